package k8sdenyunmaskedprocmount

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	mount := pods.container_value(entry.container, "procMount")
	mount != "Default"
	msg := sprintf("%s must not set procMount %v; only Default is allowed", [pods.describe(entry), mount])
}
