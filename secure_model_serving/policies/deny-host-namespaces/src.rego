package k8sdenyhostnamespaces

import data.lib.pods

violation contains {"msg": msg} if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pods.spec[field] == true
	msg := sprintf("pod must not set %s: true (shares the node's namespace)", [field])
}
