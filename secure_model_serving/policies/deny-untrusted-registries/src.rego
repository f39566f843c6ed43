package k8sdenyuntrustedregistries

import data.lib.pods

registries := object.get(input.parameters, "registries", [])

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not trusted(entry.container.image)
	msg := sprintf("%s image %v is not below an allowed registry path; allowed: %v", [pods.describe(entry), entry.container.image, registries])
}

# A prefix with an explicit registry host that the image starts with, followed by `/`, is the
# common case and needs no parsing (normalizing would give the same host); anything else is parsed.
trusted(image) if {
	some prefix in registries
	pods.looks_like_host(split(prefix, "/")[0])
	startswith(image, concat("", [prefix, "/"]))
}

trusted(image) if {
	repository := pods.parse_image(image).repository
	some prefix in registries
	pods.repository_below(repository, prefix)
}
