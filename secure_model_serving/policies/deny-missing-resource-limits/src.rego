package k8sdenymissingresourcelimits

import data.lib.pods

base_resources := ["cpu", "memory"]

required_resources := array.concat(base_resources, ["ephemeral-storage"]) if {
	input.parameters.requireEphemeralStorage == true
} else := base_resources

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	entry.label != "ephemeral container"
	some resource in required_resources
	not has_quantity(entry.container, "limits", resource)
	msg := sprintf("%s must set resources.limits.%s", [pods.describe(entry), resource])
}

violation contains {"msg": msg} if {
	input.parameters.requireRequests == true
	some entry in pods.checked_containers
	entry.label != "ephemeral container"
	some resource in required_resources
	not has_quantity(entry.container, "requests", resource)
	msg := sprintf("%s must set resources.requests.%s", [pods.describe(entry), resource])
}

has_quantity(c, kind, resource) if {
	quantity := c.resources[kind][resource]
	not quantity in {"", null}
}
