package k8sdenysecretenvvars

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some env in object.get(entry.container, "env", [])
	ref := env.valueFrom.secretKeyRef
	msg := sprintf(`%s env var "%s" reads Secret "%v"; mount the Secret as a file instead`, [pods.describe(entry), env.name, secret_name(ref)])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some source in object.get(entry.container, "envFrom", [])
	ref := source.secretRef
	msg := sprintf(`%s envFrom imports Secret "%v"; mount the Secret as a file instead`, [pods.describe(entry), secret_name(ref)])
}

# The Secret's name for the message, "" when missing. A function rather than an
# inline object.get default: rego-cpp formats a string literal written in the
# rule body with its quotes and then emits unreadable output.
secret_name(ref) := ref.name if {
	is_string(ref.name)
} else := ""
