package k8sdenyserviceaccounttokenautomount

import data.lib.pods

violation contains {"msg": "pod must set automountServiceAccountToken: false (unset mounts the token)"} if {
	pods.spec
	not pods.spec.automountServiceAccountToken == false
}

# A projected token is the same API credential as the automounted one unless
# it is requested for an audience the API server does not accept.
violation contains {"msg": msg} if {
	some volume in object.get(pods.spec, "volumes", [])
	some source in object.get(object.get(volume, "projected", {}), "sources", [])
	token := source.serviceAccountToken
	not allowed_audience(token)
	msg := sprintf(
		`volume "%s" projects a service-account token %s; allowed audiences: %v (none is the API server's)`,
		[volume.name, describe_audience(token), allowed_audiences],
	)
}

describe_audience(token) := sprintf(`for audience "%s"`, [token.audience]) if {
	token.audience != ""
} else := "without an audience (a token for the API server)"

allowed_audiences := object.get(input.parameters, "tokenAudiences", [])

allowed_audience(token) if {
	token.audience != ""
	token.audience in allowed_audiences
}
