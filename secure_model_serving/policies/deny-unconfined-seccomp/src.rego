package k8sdenyunconfinedseccomp

import data.lib.pods

allowed_types := {"RuntimeDefault", "Localhost"}

violation contains {"msg": msg} if {
	profile_type := pods.pod_context.seccompProfile.type
	not allowed_types[profile_type]
	msg := sprintf("pod securityContext.seccompProfile.type %v is not allowed; use RuntimeDefault or Localhost", [profile_type])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	profile_type := pods.container_value(entry.container, "seccompProfile").type
	not allowed_types[profile_type]
	msg := sprintf("%s seccompProfile.type %v is not allowed; use RuntimeDefault or Localhost", [pods.describe(entry), profile_type])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not profile_type_set(entry.container)
	msg := sprintf("%s has no seccomp profile; set seccompProfile.type RuntimeDefault or Localhost on the container or the pod", [pods.describe(entry)])
}

# A call inside a negation is evaluated first (see lib/pods.rego): test the type in a rule of its own.
profile_type_set(container) if pods.effective(container, "seccompProfile").type
