package k8sdenyhostpathvolumes

import data.lib.pods

violation contains {"msg": msg} if {
	some volume in object.get(pods.spec, "volumes", [])
	volume.hostPath
	msg := sprintf(`volume "%s" must not be a hostPath volume (path %v)`, [volume.name, host_path(volume.hostPath)])
}

# The path for the message, "" when missing. A function rather than an inline
# object.get default: rego-cpp formats a string literal written in the rule
# body with its quotes and then emits unreadable output.
host_path(source) := source.path if {
	is_string(source.path)
} else := ""
