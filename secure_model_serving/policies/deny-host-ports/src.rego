package k8sdenyhostports

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some port in object.get(entry.container, "ports", [])
	port.hostPort != 0
	msg := sprintf("%s must not bind host port %v", [pods.describe(entry), port.hostPort])
}
