package k8sdenydefaultserviceaccount

import data.lib.pods

violation contains {"msg": msg} if {
	pods.spec
	account := service_account
	account == "default"
	msg := "pod must set serviceAccountName to a dedicated service account, not default (unset means default)"
}

# serviceAccountName wins; the deprecated serviceAccount is its fallback.
service_account := name if {
	name := pods.spec.serviceAccountName
	not name in {"", null}
} else := name if {
	name := pods.spec.serviceAccount
	not name in {"", null}
} else := "default"
