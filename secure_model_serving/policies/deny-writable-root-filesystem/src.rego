package k8sdenywritablerootfilesystem

import data.lib.pods

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not pods.container_is(entry.container, "readOnlyRootFilesystem", true)
	msg := sprintf("%s must set securityContext.readOnlyRootFilesystem: true", [pods.describe(entry)])
}
