package k8sdenysecretenvvars

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some env in object.get(entry.container, "env", [])
	ref := env.valueFrom.secretKeyRef
	msg := sprintf(`%s env var "%s" reads Secret "%v"; mount the Secret as a file instead`, [pods.describe(entry), env.name, object.get(ref, "name", "")])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some source in object.get(entry.container, "envFrom", [])
	ref := source.secretRef
	msg := sprintf(`%s envFrom imports Secret "%v"; mount the Secret as a file instead`, [pods.describe(entry), object.get(ref, "name", "")])
}
