package k8sdenyprivilegedcontainers

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	pods.container_value(entry.container, "privileged") == true
	msg := sprintf("%s must not be privileged (securityContext.privileged: true)", [pods.describe(entry)])
}
