package k8sdenymodelimagesoutsidemodelnamespaces

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.containers
	model_image(entry.container.image)
	msg := sprintf("%s runs the model image %v outside a model namespace; model images run only in namespaces the platform labels and judges", [pods.describe(entry), entry.container.image])
}

model_image(image) if {
	repository := pods.parse_image(image).repository
	some prefix in object.get(input.parameters, "registries", [])
	pods.repository_below(repository, prefix)
}
