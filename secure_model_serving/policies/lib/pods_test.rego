# Unit tests of the shared pod helpers, run by `opa test secure_model_serving/policies/lib`.
package lib.pods_test

import data.lib.pods

pod(spec) := {"review": {"object": {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}}, "parameters": {}}

# --- finding the pod spec ----------------------------------------------------

test_spec_of_a_pod if {
	pods.spec == {"containers": []} with input as pod({"containers": []})
}

test_spec_of_a_deployment_is_its_template if {
	deployment := {"kind": "Deployment", "spec": {"template": {"spec": {"hostPID": true}}}}
	pods.spec == {"hostPID": true} with input as {"review": {"object": deployment}}
}

test_spec_of_a_cronjob_is_its_job_template if {
	cronjob := {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"hostIPC": true}}}}}}
	pods.spec == {"hostIPC": true} with input as {"review": {"object": cronjob}}
}

test_no_spec_for_other_kinds if {
	not pods.spec with input as {"review": {"object": {"kind": "Service", "spec": {}}}}
}

# --- containers --------------------------------------------------------------

test_containers_of_all_three_lists if {
	spec := {
		"initContainers": [{"name": "i", "image": "a"}],
		"containers": [{"name": "c", "image": "b"}],
		"ephemeralContainers": [{"name": "e", "image": "c"}],
	}
	labels := {entry.label | some entry in pods.containers} with input as pod(spec)
	labels == {"init container", "container", "ephemeral container"}
}

test_exempt_images_are_not_checked if {
	spec := {"containers": [{"name": "proxy", "image": "docker.io/istio/proxyv2:1.0@sha256:aa"}, {"name": "m", "image": "reg.example/m"}]}
	parameters := {"exemptImages": ["docker.io/istio/proxyv2:1.0@sha256:aa"]}
	names := [entry.container.name | some entry in pods.checked_containers] with input as object.union(pod(spec), {"parameters": parameters})
	names == ["m"]
}

test_pod_context_is_empty_when_absent_or_null if {
	pods.pod_context == {} with input as pod({"containers": []})
	pods.pod_context == {} with input as pod({"securityContext": null})
}

# --- securityContext values -----------------------------------------------------

test_container_value_overrides_the_pod if {
	c := {"securityContext": {"runAsNonRoot": false}}
	pods.effective(c, "runAsNonRoot") == false with input as pod({"securityContext": {"runAsNonRoot": true}})
}

test_effective_falls_back_to_the_pod_when_the_container_is_silent_or_null if {
	input_pod := pod({"securityContext": {"runAsUser": 10001}})
	pods.effective({}, "runAsUser") == 10001 with input as input_pod
	pods.effective({"securityContext": {"runAsUser": null}}, "runAsUser") == 10001 with input as input_pod
}

test_effective_is_undefined_when_nobody_sets_it if {
	not pods.effective({}, "runAsUser") with input as pod({})
}

test_container_is_false_when_unset_so_negated_requirements_fire if {
	not pods.container_is({}, "allowPrivilegeEscalation", false)
	not pods.container_is({"securityContext": {}}, "readOnlyRootFilesystem", true)
	pods.container_is({"securityContext": {"readOnlyRootFilesystem": true}}, "readOnlyRootFilesystem", true)
}

test_effective_is_reads_the_pod_level_value if {
	pods.effective_is({}, "runAsNonRoot", true) with input as pod({"securityContext": {"runAsNonRoot": true}})
	not pods.effective_is({}, "runAsNonRoot", true) with input as pod({})
}

# --- image references ---------------------------------------------------------

test_parse_image_normalizes_docker_hub if {
	pods.parse_image("nginx") == {"repository": "docker.io/library/nginx", "tag": "", "digest": ""}
	pods.parse_image("index.docker.io/istio/proxyv2:1.2") == {"repository": "docker.io/istio/proxyv2", "tag": "1.2", "digest": ""}
}

test_parse_image_keeps_a_registry_port_apart_from_the_tag if {
	pods.parse_image("reg.example:5000/models/m:v1@sha256:ab") == {"repository": "reg.example:5000/models/m", "tag": "v1", "digest": "sha256:ab"}
}

test_repository_within_respects_path_boundaries if {
	pods.repository_within("reg.example/models", "reg.example/models")
	pods.repository_within("reg.example/models/fraud", "reg.example/models/")
	not pods.repository_within("reg.example/models-evil/x", "reg.example/models")
	not pods.repository_within("reg.example:5000/models/x", "reg.example/models")
}

test_exempt_pattern_with_digest_must_match_exactly if {
	pattern := "docker.io/istio/proxyv2:1.0@sha256:aa"
	pods.image_matches("istio/proxyv2:1.0@sha256:aa", pattern)
	not pods.image_matches("docker.io/istio/proxyv2:1.0@sha256:bb", pattern)
	not pods.image_matches("docker.io/istio/proxyv2:1.0", pattern)
}

test_exempt_pattern_with_star_is_a_plain_prefix if {
	pods.image_matches("reg.example/models/m@sha256:aa", "reg.example/models/*")
	not pods.image_matches("docker.io/reg.example/models/m", "reg.example/models/*")
}

test_valid_digest_needs_64_hex_characters if {
	pods.has_valid_digest("reg.example/m@sha256:0000000000000000000000000000000000000000000000000000000000000000")
	not pods.has_valid_digest("reg.example/m@sha256:abc")
	not pods.has_valid_digest("reg.example/m:latest")
}

test_repository_below_refuses_the_bare_prefix if {
	pods.repository_below("reg.example/models/fraud", "reg.example/models")
	not pods.repository_below("reg.example/models", "reg.example/models")
	not pods.repository_below("reg.example/models-evil/x", "reg.example/models")
}

test_image_tag_reads_the_last_segment_only if {
	pods.image_tag("reg.example:5000/models/m:v1@sha256:ab") == "v1"
	pods.image_tag("reg.example:5000/models/m@sha256:ab") == ""
	pods.image_tag("nginx:latest") == "latest"
	pods.image_tag("nginx") == ""
}
