package k8sdenyhostpathvolumes

import data.lib.pods

violation contains {"msg": msg} if {
	some volume in object.get(pods.spec, "volumes", [])
	volume.hostPath
	msg := sprintf(`volume "%s" must not be a hostPath volume (path %v)`, [volume.name, object.get(volume.hostPath, "path", "")])
}
