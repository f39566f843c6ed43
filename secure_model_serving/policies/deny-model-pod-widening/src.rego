package k8sdenymodelpodwidening

import data.lib.pods

params := input.parameters

mesh_names := {c.name | some c in object.get(params, "meshContainers", [])}

model_name := params.modelContainer.name

# --- identity ----------------------------------------------------------------

violation contains {"msg": msg} if {
	name := object.get(pods.spec, "serviceAccountName", "")
	name != params.serviceAccountName
	msg := sprintf("pod must run as service account %v, not %v (set by the platform: the stack's model settings)", [params.serviceAccountName, name])
}

# --- containers --------------------------------------------------------------

# The model image is a digest and nothing else: policy-controller's mutating webhook rewrites a tag
# into `repo:tag@sha256:...` before any validating webhook runs, so refusing the tag here is what
# keeps a tag reference out (the digest it resolved to would pass every other check).
violation contains {"msg": msg} if {
	some entry in pods.containers
	entry.container.name == model_name
	regex.match(`:[^/@]*@`, entry.container.image)
	msg := sprintf("%s image %v must be referenced by digest alone (repository@sha256:...), without a tag", [pods.describe(entry), entry.container.image])
}

# A tenant's model runs its own images only: on a shared cluster the platform's registry allow-list
# is every tenant's, so this per-namespace constraint keeps another tenant's model image out.
violation contains {"msg": msg} if {
	some entry in pods.containers
	entry.container.name == model_name
	not own_image(entry.container.image)
	msg := sprintf("%s image %v is not below this model's registries %v", [pods.describe(entry), entry.container.image, object.get(params, "modelRegistries", [])])
}

own_image(image) if {
	repository := pods.parse_image(image).repository
	some prefix in object.get(params, "modelRegistries", [])
	pods.repository_below(repository, prefix)
}

violation contains {"msg": msg} if {
	some entry in pods.containers
	not entry.container.name in mesh_names
	entry.container.name != model_name
	msg := sprintf("%s is not part of the model pod; only %v and the mesh's injected containers are", [pods.describe(entry), model_name])
}

violation contains {"msg": msg} if {
	some entry in pods.containers
	entry.container.name == model_name
	entry.label != "container"
	msg := sprintf("%s must be a regular container, not an %s", [pods.describe(entry), entry.label])
}

# The mesh proxy image runs only as the injected containers: their name, list, user, no command.
violation contains {"msg": msg} if {
	some entry in pods.containers
	some mesh in params.meshContainers
	entry.container.name == mesh.name
	not injected_as(entry, mesh)
	msg := sprintf("%s must be the mesh's injected container: image %v, %s list, user %v, no command override", [pods.describe(entry), mesh.image, mesh.list, mesh.runAsUser])
}

violation contains {"msg": msg} if {
	some entry in pods.containers
	not entry.container.name in mesh_names
	some mesh in params.meshContainers
	entry.container.image == mesh.image
	msg := sprintf("%s must not run the mesh proxy image; it is accepted only as the injected containers", [pods.describe(entry)])
}

injected_as(entry, mesh) if {
	entry.container.image == mesh.image
	pods.container_fields[mesh.list] == entry.label
	pods.effective_is(entry.container, "runAsUser", mesh.runAsUser)
	not entry.container.command
}

# --- the model container -----------------------------------------------------

pinned_fields := ["command", "args", "env", "envFrom", "volumeMounts"]

violation contains {"msg": msg} if {
	some entry in pods.containers
	entry.container.name == model_name
	some field in pinned_fields
	object.get(entry.container, field, []) != object.get(params.modelContainer, field, [])
	msg := sprintf("%s %s must be exactly %v, as the platform sets it (found %v)", [pods.describe(entry), field, object.get(params.modelContainer, field, []), object.get(entry.container, field, [])])
}

# --- volumes and tokens ------------------------------------------------------

violation contains {"msg": msg} if {
	some volume in object.get(pods.spec, "volumes", [])
	not volume in params.volumes # as the platform wrote it: no need to normalize
	not volume_shape(volume) in allowed_volume_shapes
	msg := sprintf(`volume "%v" is not one the platform or the mesh defines (secrets, tokens and other sources are fixed by the platform)`, [volume.name])
}

allowed_volume_shapes := {volume_shape(v) | some v in object.get(params, "volumes", [])}

# A volume by name, source kind and what the source refers to, so that the API server's
# defaulting (modes, field API versions) does not make a platform volume look foreign.
volume_shape(volume) := {"name": volume.name, "source": kind, "ref": source_ref(kind, volume[kind])} if {
	some kind, _ in volume
	kind != "name"
}

source_ref("secret", source) := object.get(source, "secretName", "")

source_ref("configMap", source) := object.get(source, "name", "")

source_ref("emptyDir", source) := object.get(source, "medium", "")

source_ref("downwardAPI", source) := {item.path | some item in object.get(source, "items", [])}

source_ref("projected", source) := {projection(item) | some item in object.get(source, "sources", [])}

# Any other source must match exactly (no platform volume uses one).
source_ref(kind, source) := source if {
	not kind in {"secret", "configMap", "emptyDir", "downwardAPI", "projected"}
}

projection(item) := {"token": object.get(item.serviceAccountToken, "audience", ""), "path": item.serviceAccountToken.path} if {
	item.serviceAccountToken
}

projection(item) := {"configMap": object.get(item.configMap, "name", "")} if item.configMap

projection(item) := {"secret": object.get(item.secret, "name", "")} if item.secret

projection(item) := {"downwardAPI": {i.path | some i in object.get(item.downwardAPI, "items", [])}} if item.downwardAPI

projection(item) := {"clusterTrustBundle": item.clusterTrustBundle} if item.clusterTrustBundle

projection(item) := {"podCertificate": item.podCertificate} if item.podCertificate

# --- the mesh ----------------------------------------------------------------

# Every key of Istio's annotations and labels (sidecar.istio.io/, traffic.sidecar.istio.io/,
# proxy.istio.io/, istio.io/, status.sidecar.istio.io/, ...) lives under the istio.io domain.
mesh_key(key) if contains(key, "istio.io/")

violation contains {"msg": msg} if {
	params.meshRequired
	some key, value in object.get(pods.metadata, "annotations", {})
	mesh_key(key)
	not annotation_allowed(key, value)
	msg := sprintf("annotation %v: %v would change how the mesh handles the pod; the platform sets mesh annotations", [key, value])
}

annotation_allowed(key, _) if params.meshAnnotations[key] == "*"

annotation_allowed(key, value) if params.meshAnnotations[key] == value

violation contains {"msg": msg} if {
	params.meshRequired
	some key, value in object.get(pods.metadata, "labels", {})
	mesh_key(key)
	not label_allowed(key, value)
	msg := sprintf("label %v: %v would take the pod out of the mesh or onto another control plane", [key, value])
}

label_allowed("sidecar.istio.io/inject", "true")

label_allowed("istio.io/rev", value) if value == params.meshRevision

label_allowed("security.istio.io/tlsMode", "istio")

# Written by the injector for telemetry only: the workload's canonical name and revision.
label_allowed("service.istio.io/canonical-name", _)

label_allowed("service.istio.io/canonical-revision", _)

# A pod that says it is injected carries the proxy: a status annotation written by hand
# makes the injector skip the pod.
violation contains {"msg": msg} if {
	params.meshRequired
	pods.annotations["sidecar.istio.io/status"]
	count({c | some entry in pods.containers; entry.container.name in mesh_names; c := entry.container.name}) == 0
	msg := "pod claims injection (sidecar.istio.io/status) but carries no mesh proxy"
}

# --- placement and host-level settings --------------------------------------

violation contains {"msg": msg} if {
	object.get(pods.spec, "nodeSelector", {}) != object.get(params, "nodeSelector", {})
	msg := sprintf("nodeSelector must be exactly %v (the model's node pool), found %v", [object.get(params, "nodeSelector", {}), object.get(pods.spec, "nodeSelector", {})])
}

violation contains {"msg": msg} if {
	some toleration in object.get(pods.spec, "tolerations", [])
	not toleration in allowed_tolerations
	msg := sprintf("toleration %v is not allowed; the model's node pool tolerates %v", [toleration, object.get(params, "tolerations", [])])
}

# The pool's tolerations, and the two the API server's DefaultTolerationSeconds plugin adds to
# every pod.
allowed_tolerations := {t | some t in object.get(params, "tolerations", [])} | {
	{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
	{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
}

violation contains {"msg": msg} if {
	name := pods.spec.priorityClassName
	not name in object.get(params, "priorityClassNames", [])
	msg := sprintf("priorityClassName %v is not allowed; allowed: %v", [name, object.get(params, "priorityClassNames", [])])
}

forbidden_fields := {
	"nodeName": "binds the pod to a node of its choice",
	"runtimeClassName": "selects another container runtime",
	"hostAliases": "redirects host names (the secret backends)",
	"dnsConfig": "adds DNS servers or searches",
	"resourceClaims": "claims devices",
	"overhead": "is set by the runtime class only",
}

violation contains {"msg": msg} if {
	some field, why in forbidden_fields
	pods.spec[field]
	msg := sprintf("pod must not set %s: it %s", [field, why])
}

violation contains {"msg": msg} if {
	policy := pods.spec.dnsPolicy
	policy != "ClusterFirst"
	msg := sprintf("dnsPolicy must be ClusterFirst, found %v", [policy])
}

violation contains {"msg": msg} if {
	scheduler := pods.spec.schedulerName
	scheduler != "default-scheduler"
	msg := sprintf("schedulerName must be default-scheduler, found %v", [scheduler])
}

violation contains {"msg": msg} if {
	some entry in pods.containers
	entry.container.resources.claims
	msg := sprintf("%s must not claim devices (resources.claims)", [pods.describe(entry)])
}
