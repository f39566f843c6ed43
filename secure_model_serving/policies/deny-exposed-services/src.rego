package k8sdenyexposedservices

exposed_types := {"NodePort", "LoadBalancer"}

service := input.review.object

violation contains {"msg": msg} if {
	service.kind == "Service"
	exposed_types[service.spec.type]
	msg := sprintf("service must not be of type %v; use ClusterIP behind the mesh gateway", [service.spec.type])
}

violation contains {"msg": msg} if {
	service.kind == "Service"
	count(object.get(service.spec, "externalIPs", [])) > 0
	msg := sprintf("service must not set externalIPs (found %v)", [service.spec.externalIPs])
}
