package k8sdenylaximagepullpolicy

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not entry.container.imagePullPolicy == "Always"
	msg := sprintf("%s must set imagePullPolicy: Always (found %v)", [pods.describe(entry), pull_policy(entry.container)])
}

# The policy as written, for the message. Kept out of the rule body: rego-cpp
# formats a local variable bound to a string literal (such as an object.get
# default) with its quotes, and then emits unreadable output.
pull_policy(c) := c.imagePullPolicy if {
	c.imagePullPolicy != null
} else := "unset"
