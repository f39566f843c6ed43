package k8sdenyrootgroup

import data.lib.pods

violation contains {"msg": "pod securityContext.runAsGroup must not be 0 (root group)"} if {
	pods.pod_context.runAsGroup == 0
}

violation contains {"msg": "pod securityContext.fsGroup must not be 0 (root group)"} if {
	pods.pod_context.fsGroup == 0
}

violation contains {"msg": "pod securityContext.supplementalGroups must not contain 0 (root group)"} if {
	some group in object.get(pods.pod_context, "supplementalGroups", [])
	group == 0
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	pods.container_value(entry.container, "runAsGroup") == 0
	msg := sprintf("%s must not set securityContext.runAsGroup: 0 (root group)", [pods.describe(entry)])
}
