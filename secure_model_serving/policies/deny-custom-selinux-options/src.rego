package k8sdenycustomselinuxoptions

import data.lib.pods

allowed_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

violation contains {"msg": msg} if {
	options := pods.pod_context.seLinuxOptions
	some problem in problems(options)
	msg := sprintf("pod securityContext.seLinuxOptions: %s", [problem])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	options := pods.container_value(entry.container, "seLinuxOptions")
	some problem in problems(options)
	msg := sprintf("%s seLinuxOptions: %s", [pods.describe(entry), problem])
}

problems(options) := {problem |
	some field in ["user", "role"]
	value := options[field]
	not value in {"", null}
	problem := sprintf("%s must not be set (found %v)", [field, value])
} | {problem |
	value := options.type
	value != null
	not allowed_types[value]
	problem := sprintf("type %v is not allowed", [value])
}
