package k8sdenyserviceaccounttokenautomount

import data.lib.pods

violation contains {"msg": "pod must set automountServiceAccountToken: false (unset mounts the token)"} if {
	pods.spec
	not pods.spec.automountServiceAccountToken == false
}
