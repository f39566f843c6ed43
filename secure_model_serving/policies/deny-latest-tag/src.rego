package k8sdenylatesttag

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	pods.image_tag(entry.container.image) == "latest"
	msg := sprintf("%s image %v must not use the latest tag", [pods.describe(entry), entry.container.image])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not contains(entry.container.image, "@")
	pods.image_tag(entry.container.image) == ""
	msg := sprintf("%s image %v has neither tag nor digest and resolves to latest", [pods.describe(entry), entry.container.image])
}
