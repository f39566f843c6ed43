package k8sdenyrunasroot

import data.lib.pods

violation contains {"msg": "pod securityContext.runAsUser must not be 0 (root)"} if {
	pods.pod_context.runAsUser == 0
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	pods.container_value(entry.container, "runAsUser") == 0
	msg := sprintf("%s must not set securityContext.runAsUser: 0 (root)", [pods.describe(entry)])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not pods.effective_is(entry.container, "runAsNonRoot", true)
	msg := sprintf("%s must run with runAsNonRoot: true (on the container, or on the pod when the container sets none)", [pods.describe(entry)])
}
