package k8sdenyunpinnedimages

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not pods.has_valid_digest(entry.container.image)
	msg := sprintf("%s image %v must be pinned by digest (@sha256:<64 hex>)", [pods.describe(entry), entry.container.image])
}
