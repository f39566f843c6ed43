package k8sdenyprivilegeescalation

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not pods.container_is(entry.container, "allowPrivilegeEscalation", false)
	msg := sprintf("%s must set securityContext.allowPrivilegeEscalation: false (unset allows escalation)", [pods.describe(entry)])
}
