package k8sdenylowuserandgroupids

import data.lib.pods

min_uid := object.get(input.parameters, "minUid", 10001)

min_gid := object.get(input.parameters, "minGid", 10001)

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not pods.effective(entry.container, "runAsUser")
	msg := sprintf("%s must set runAsUser (>= %d) on the container or the pod; the image's user cannot be verified", [pods.describe(entry), min_uid])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	uid := pods.effective(entry.container, "runAsUser")
	uid < min_uid
	msg := sprintf("%s runs as user %d; must be >= %d", [pods.describe(entry), uid, min_uid])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	not pods.effective(entry.container, "runAsGroup")
	msg := sprintf("%s must set runAsGroup (>= %d) on the container or the pod; the image's group cannot be verified", [pods.describe(entry), min_gid])
}

violation contains {"msg": msg} if {
	some entry in pods.checked_containers
	gid := pods.effective(entry.container, "runAsGroup")
	gid < min_gid
	msg := sprintf("%s runs as group %d; must be >= %d", [pods.describe(entry), gid, min_gid])
}

violation contains {"msg": msg} if {
	gid := pods.pod_context.fsGroup
	gid != null
	gid < min_gid
	msg := sprintf("pod securityContext.fsGroup %d must be >= %d", [gid, min_gid])
}

violation contains {"msg": msg} if {
	some gid in object.get(pods.pod_context, "supplementalGroups", [])
	gid < min_gid
	msg := sprintf("pod securityContext.supplementalGroups contains %d; every group must be >= %d", [gid, min_gid])
}
