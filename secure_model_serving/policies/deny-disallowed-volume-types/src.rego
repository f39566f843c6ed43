package k8sdenydisallowedvolumetypes

import data.lib.pods

restricted_types := [
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
	"image", "persistentVolumeClaim", "projected", "secret",
]

allowed_types := object.get(input.parameters, "allowedVolumeTypes", restricted_types)

violation contains {"msg": msg} if {
	some volume in object.get(pods.spec, "volumes", [])
	some field in object.keys(volume)
	field != "name"
	not allowed(field)
	msg := sprintf(`volume "%s" uses type %s; allowed: %v`, [volume.name, field, allowed_types])
}

allowed(field) if {
	some permitted in allowed_types
	field == permitted
}
