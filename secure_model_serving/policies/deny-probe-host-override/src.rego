package k8sdenyprobehostoverride

import data.lib.pods

probes := ["livenessProbe", "readinessProbe", "startupProbe"]

hooks := ["postStart", "preStop"]

handlers := ["httpGet", "tcpSocket"]

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some probe in probes
	some handler in handlers
	host := entry.container[probe][handler].host
	not host in {"", null}
	msg := sprintf("%s %s.%s.host must be unset (found %v)", [pods.describe(entry), probe, handler, host])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some hook in hooks
	some handler in handlers
	host := entry.container.lifecycle[hook][handler].host
	not host in {"", null}
	msg := sprintf("%s lifecycle.%s.%s.host must be unset (found %v)", [pods.describe(entry), hook, handler, host])
}
