package k8sdenylaximagepullpolicy

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	policy := object.get(entry.container, "imagePullPolicy", "unset")
	policy != "Always"
	msg := sprintf("%s must set imagePullPolicy: Always (found %v)", [pods.describe(entry), policy])
}
