# Shared helpers for policies that judge pods.
#
# Shipped to Gatekeeper through the `libs` of each ConstraintTemplate that
# imports it (`import data.lib.pods`). The object under review is normally a
# Pod (workloads reach the policies as Pods through ExpansionTemplates), but
# the pod template of the usual workload kinds is found as well, so a template
# still judges something sensible where expansion is switched off.
package lib.pods

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

# The pod spec of the object under review (undefined for non-pod objects).
# One else-chain, not three rules: OPA stops at the first kind that matches
# instead of evaluating every definition to check they agree (measured with
# `opa bench`: a third of the rule's cost on the model pod).
spec := input.review.object.spec if {
	input.review.object.kind == "Pod"
} else := input.review.object.spec.template.spec if {
	workload_kinds[input.review.object.kind]
} else := input.review.object.spec.jobTemplate.spec.template.spec if {
	input.review.object.kind == "CronJob"
}

# The pod metadata (labels, annotations) of the object under review.
metadata := object.get(input.review.object, "metadata", {}) if {
	input.review.object.kind == "Pod"
} else := object.get(input.review.object.spec.template, "metadata", {}) if {
	workload_kinds[input.review.object.kind]
} else := object.get(input.review.object.spec.jobTemplate.spec.template, "metadata", {}) if {
	input.review.object.kind == "CronJob"
}

annotations := object.get(metadata, "annotations", {})

# The pod-level securityContext ({} when absent).
pod_context := ctx if {
	ctx := spec.securityContext
	is_object(ctx)
} else := {}

container_fields := {
	"initContainers": "init container",
	"containers": "container",
	"ephemeralContainers": "ephemeral container",
}

# Every container of the pod, of the three lists, as {"label", "container"}.
containers := [{"label": label, "container": c} |
	some field, label in container_fields
	some c in spec[field]
]

# The containers a policy judges: all of them except those whose image the
# constraint exempts through the `exemptImages` parameter.
checked_containers := [entry |
	some entry in containers
	not exempt_image(entry.container.image)
]

# A human-readable name for a container entry, e.g. `init container "setup"`.
describe(entry) := sprintf(`%s "%s"`, [entry.label, entry.container.name])

# The value of a securityContext field for a container: its own setting when
# present (and not null), otherwise the pod-level one; undefined when neither.
effective(c, field) := c.securityContext[field] if {
	c.securityContext[field] != null
} else := pod_context[field] if {
	pod_context[field] != null
}

# A container's own securityContext field, undefined when absent or null.
container_value(c, field) := c.securityContext[field] if {
	c.securityContext[field] != null
}

# True when a container's own field / its effective field equals `value`.
# Policies that require a value write `not pods.container_is(c, field, value)`:
# OPA evaluates a call inside a negated comparison (`not f(x) == v`) before the
# negation, so an unset field (an undefined call) would make such a rule never
# fire, and a missing field must be the first thing denied.
container_is(c, field, value) if container_value(c, field) == value

effective_is(c, field, value) if effective(c, field) == value

# --- images -----------------------------------------------------------------

exempt_patterns := object.get(input.parameters, "exemptImages", [])

# An image written exactly as an entry (the usual case: the mesh proxy as the
# injector writes it) is exempt before any reference is parsed; OPA stops at
# the first definition that holds.
exempt_image(image) if image in exempt_patterns

exempt_image(image) if {
	some pattern in exempt_patterns
	image_matches(image, pattern)
}

# An exemptImages entry ending in `*` is a plain string prefix of the image as
# written (the convention of the gatekeeper-library). Any other entry is
# compared as a reference: with a tag or digest it must equal the image;
# without, it names a repository or a path prefix that the image's repository
# must equal or continue at a `/` boundary.
image_matches(image, pattern) if {
	endswith(pattern, "*")
	startswith(image, trim_suffix(pattern, "*"))
}

image_matches(image, pattern) if {
	not endswith(pattern, "*")
	pinned_pattern(pattern)

	# Equal references end in the same name[:tag][@digest]: a cheap test first,
	# so images that cannot match are never parsed.
	last_segment(image) == last_segment(pattern)
	ref := parse_image(image)
	want := parse_image(pattern)
	ref.repository == want.repository
	ref.tag == want.tag
	ref.digest == want.digest
}

image_matches(image, pattern) if {
	not endswith(pattern, "*")
	not pinned_pattern(pattern)
	repository_within(parse_image(image).repository, pattern)
}

last_segment(reference) := parts[count(parts) - 1] if parts := split(reference, "/")

# The tag of an image reference ("" when it has none), without parsing the rest: it follows a `:`
# in the last path segment, before any `@digest`.
image_tag(image) := pieces[1] if {
	pieces := split(last_segment(split(image, "@")[0]), ":")
	count(pieces) > 1
} else := ""

pinned_pattern(pattern) if contains(pattern, "@")

pinned_pattern(pattern) if {
	parts := split(pattern, "/")
	count(parts) > 1
	contains(parts[count(parts) - 1], ":")
}

# True when a normalized repository lies within a registry/path prefix, on a
# path-segment boundary: `reg.example/models` admits `reg.example/models` and
# `reg.example/models/fraud`, not `reg.example/models-evil` nor
# `reg.example/modelsx`. Hosts keep their port: `reg.example` does not admit
# `reg.example:5000/x`.
repository_within(repository, prefix) if {
	want := normalize_prefix(prefix)
	repository == want
}

repository_within(repository, prefix) if {
	want := normalize_prefix(prefix)
	startswith(repository, concat("", [want, "/"]))
}

# True when a normalized repository lies strictly below a registry/path prefix:
# `reg.example/models` admits `reg.example/models/fraud`, not the bare
# `reg.example/models` (an image signature policy's `prefix/**` glob covers
# exactly what lies below, so an image at the bare prefix would be unsigned).
repository_below(repository, prefix) if startswith(repository, concat("", [normalize_prefix(prefix), "/"]))

# A prefix is written like an image repository. Its first segment is a
# registry host when it looks like one; otherwise the prefix is a path on the
# implied default registry (Docker Hub).
normalize_prefix(prefix) := result if {
	trimmed := trim_suffix(prefix, "/")
	parts := split(trimmed, "/")
	looks_like_host(parts[0])
	result := concat("/", array.concat([canonical_host(parts[0])], array.slice(parts, 1, count(parts))))
} else := concat("/", [default_registry, trim_suffix(prefix, "/")])

default_registry := "docker.io"

canonical_host(host) := default_registry if host == "index.docker.io"

canonical_host(host) := host if host != "index.docker.io"

looks_like_host(segment) if contains(segment, ".")

looks_like_host(segment) if contains(segment, ":")

looks_like_host(segment) if segment == "localhost"

looks_like_host(segment) if lower(segment) != segment

# Splits an image reference into {"repository", "tag", "digest"}. The
# repository is normalized the way container runtimes resolve it: a missing
# registry host means Docker Hub, and a single-segment Docker Hub name lives
# under `library/`. Tag and digest are "" when absent.
parse_image(image) := {"repository": repository, "tag": tag, "digest": digest} if {
	name_digest := split_digest(image)
	name_tag := split_tag(name_digest[0])
	repository := normalize_name(name_tag[0])
	tag := name_tag[1]
	digest := name_digest[1]
}

split_digest(image) := [substring(image, 0, i), substring(image, i + 1, -1)] if {
	i := indexof(image, "@")
	i >= 0
} else := [image, ""]

split_tag(name) := [concat("/", array.concat(array.slice(parts, 0, last), [pieces[0]])), pieces[1]] if {
	parts := split(name, "/")
	last := count(parts) - 1
	pieces := split(parts[last], ":")
	count(pieces) == 2
} else := [name, ""]

normalize_name(name) := result if {
	parts := split(name, "/")
	count(parts) > 1
	looks_like_host(parts[0])
	result := concat("/", array.concat([canonical_host(parts[0])], array.slice(parts, 1, count(parts))))
} else := concat("/", [default_registry, "library", name]) if {
	not contains(name, "/")
} else := concat("/", [default_registry, name])

# True when the image carries a well-formed sha256 digest.
# (The digest is what follows the first `@`; one regex, no parsing.)
has_valid_digest(image) if regex.match(`^[^@]*@sha256:[a-f0-9]{64}$`, image)
