package k8sdenywindowshostprocess

import data.lib.pods

violation contains {"msg": "pod securityContext.windowsOptions.hostProcess must not be true"} if {
	pods.pod_context.windowsOptions.hostProcess == true
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	pods.container_value(entry.container, "windowsOptions").hostProcess == true
	msg := sprintf("%s must not set windowsOptions.hostProcess: true", [pods.describe(entry)])
}
