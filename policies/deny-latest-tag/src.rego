package k8sdenylatesttag

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	pods.parse_image(entry.container.image).tag == "latest"
	msg := sprintf("%s image %v must not use the latest tag", [pods.describe(entry), entry.container.image])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	ref := pods.parse_image(entry.container.image)
	ref.tag == ""
	ref.digest == ""
	msg := sprintf("%s image %v has neither tag nor digest and resolves to latest", [pods.describe(entry), entry.container.image])
}
