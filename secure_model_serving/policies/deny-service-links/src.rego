package k8sdenyservicelinks

import data.lib.pods

violation contains {"msg": "pod must set enableServiceLinks: false (unset injects service environment variables)"} if {
	pods.spec
	not pods.spec.enableServiceLinks == false
}
