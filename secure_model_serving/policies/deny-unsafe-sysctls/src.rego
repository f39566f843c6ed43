package k8sdenyunsafesysctls

import data.lib.pods

safe_sysctls := [
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
]

allowed_sysctls := object.get(input.parameters, "allowedSysctls", safe_sysctls)

violation contains {"msg": msg} if {
	some sysctl in object.get(pods.pod_context, "sysctls", [])
	not allowed(sysctl.name)
	msg := sprintf("pod sets sysctl %v, which is not in the allowed set", [sysctl.name])
}

allowed(name) if {
	some permitted in allowed_sysctls
	name == permitted
}
