package k8sdenyextracapabilities

import data.lib.pods

allowed_capabilities := object.get(input.parameters, "allowedCapabilities", ["NET_BIND_SERVICE"])

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not drops_all(entry.container)
	msg := sprintf("%s must drop ALL capabilities (securityContext.capabilities.drop: [ALL])", [pods.describe(entry)])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	some capability in added(entry.container)
	not allowed(capability)
	msg := sprintf("%s adds capability %s; allowed: %v", [pods.describe(entry), capability, allowed_capabilities])
}

drops_all(c) if {
	some capability in c.securityContext.capabilities.drop
	capability == "ALL"
}

added(c) := list if {
	list := c.securityContext.capabilities.add
	is_array(list)
} else := []

allowed(capability) if {
	some permitted in allowed_capabilities
	capability == permitted
}
