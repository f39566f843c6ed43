package k8sdenysharedprocessnamespace

import data.lib.pods

violation contains {"msg": "pod must not set shareProcessNamespace: true"} if {
	pods.spec.shareProcessNamespace == true
}
