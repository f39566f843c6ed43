package k8sdenyunconfinedapparmor

import data.lib.pods

annotation_prefix := "container.apparmor.security.beta.kubernetes.io/"

allowed_types := {"RuntimeDefault", "Localhost"}

violation contains {"msg": msg} if {
	profile_type := pods.pod_context.appArmorProfile.type
	not allowed_types[profile_type]
	msg := sprintf("pod appArmorProfile.type %v is not allowed; use RuntimeDefault or Localhost", [profile_type])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	profile_type := pods.container_value(entry.container, "appArmorProfile").type
	not allowed_types[profile_type]
	msg := sprintf("%s appArmorProfile.type %v is not allowed; use RuntimeDefault or Localhost", [pods.describe(entry), profile_type])
}

violation contains {"msg": msg} if {
	some key, value in pods.annotations
	startswith(key, annotation_prefix)
	name := substring(key, count(annotation_prefix), -1)
	not exempt_container(name)
	not allowed_annotation(value)
	msg := sprintf(`annotation %s: "%v" is not allowed; use runtime/default or localhost/<profile>`, [key, value])
}

allowed_annotation(value) if value == "runtime/default"

allowed_annotation(value) if startswith(value, "localhost/")

# An annotation only escapes the check when it names a container whose image
# is exempt.
exempt_container(name) if {
	some entry in pods.containers
	entry.container.name == name
	pods.exempt_image(entry.container.image)
}
