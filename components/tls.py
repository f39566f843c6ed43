"""EdgeTls: cert-manager, a ClusterIssuer, the gateway's certificate, and TLS termination at the edge.

cert-manager is installed with `pulumi_kubernetes_cert_manager.CertManager` (chart pinned in
`components.versions`). The issuer is chosen by settings: `selfSigned` builds a private CA chain
(a self-signed root that only signs the CA certificate, and a CA issuer for everything else) for
environments without a public name; `acme` uses an ACME directory with an HTTP-01 solver served
through the Istio gateway. The gateway terminates TLS 1.2+ for the model host, redirects plain
HTTP to HTTPS, and routes only the model's own paths to the model Service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes_cert_manager as cert_manager

from components.naming import CERT_MANAGER_NAMESPACE, TYPE_PREFIX
from components.options import child_options
from components.system import pinned_release, pod_security_labels_enforcing, system_namespace
from components.versions import CERT_MANAGER, ISTIO_GATEWAY

__all__ = [
    "CERT_MANAGER_NAMESPACE",
    "CERT_MANAGER_VALUES",
    "MIN_TLS_VERSION",
    "EdgeTls",
    "EdgeTlsArgs",
    "gateway_pod_labels",
]

MIN_TLS_VERSION = "TLSV1_2"
"""Oldest TLS version the gateway accepts."""
"""cert-manager's namespace; it also holds the private CA's key (the cluster resource namespace)."""

CERT_MANAGER_VALUES = {"crds": {"enabled": True, "keep": True}}
"""Chart values given through `helm_options`: the SDK's typed `install_crds` sets the chart's
`installCRDs`, deprecated since cert-manager 1.15 in favour of these. The chart installs its CRDs,
and keeps them when the release is removed: deleting a CRD would delete every Certificate and
Issuer with it."""

_CERT_API = "cert-manager.io/v1"
_ISSUERS = ("selfSigned", "acme")


@dataclass(frozen=True)
class EdgeTlsArgs:
    """Inputs of EdgeTls."""

    host: str
    """Public host name of the model API."""
    pod_security_version: str
    """Pinned Pod Security Standards version of the new namespaces."""
    service_host: str
    """In-cluster host of the model Service, `<service>.<namespace>.svc.cluster.local`."""
    service_port: int
    """Port of the model Service."""
    paths: Sequence[str]
    """Paths routed to the model; nothing else is."""
    gateway_namespace: str = "istio-ingress"
    """Namespace of the ingress gateway (and of its certificate secret)."""
    gateway_service_account: str = "istio-ingressgateway"
    """ServiceAccount of the gateway pods: the caller identity the model admits."""
    issuer: str = "selfSigned"
    """selfSigned (a private CA chain) or acme."""
    acme_email: str | None = None
    """Contact address for the ACME account."""
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    """ACME directory URL."""
    cert_manager_namespace: str = CERT_MANAGER_NAMESPACE
    """Namespace of cert-manager (and of the private CA's key)."""

    def __post_init__(self) -> None:
        problems = []
        if self.issuer not in _ISSUERS:
            problems.append(f"issuer must be one of {_ISSUERS}")
        if self.issuer == "acme" and not self.acme_email:
            problems.append("acme_email is required with issuer acme")
        if not self.paths:
            problems.append("paths must name at least one path")
        if problems:
            raise ValueError("EdgeTlsArgs: " + "; ".join(problems))


def gateway_pod_labels(release_name: str) -> dict[str, str]:
    """The labels of the gateway's pods, which its Gateway selects. The release (named after the
    gateway's service account) labels its pods `istio: <name without istio->`; the same label is
    passed to the chart and used as the selector, so renaming the account moves both."""
    return {"istio": release_name.removeprefix("istio-")}


class EdgeTls(pulumi.ComponentResource):
    """cert-manager, issuer, Certificate, ingress gateway, Gateway and VirtualService.

    Outputs:
        issuer_name: the ClusterIssuer that signs the gateway certificate.
        certificate_secret: the Secret (in the gateway namespace) holding the certificate.
    """

    issuer_name: str
    certificate_secret: str

    def __init__(self, name: str, args: EdgeTlsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:tls:EdgeTls", name, None, opts)
        namespaces = [
            system_namespace(
                f"{name}-{namespace}",
                namespace,
                {**pod_security_labels_enforcing(args.pod_security_version, "baseline"), **extra},
                child_options(self, opts),
            )
            for namespace, extra in (
                (args.cert_manager_namespace, {}),
                # The gateway pods get their proxy from the injector ("gateway" template).
                (args.gateway_namespace, {"istio-injection": "enabled"}),
            )
        ]
        manager = cert_manager.CertManager(
            f"{name}-cert-manager",
            helm_options=cert_manager.ReleaseArgs(
                namespace=args.cert_manager_namespace,
                version=CERT_MANAGER.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CERT_MANAGER.repository),
                atomic=True,
                values=CERT_MANAGER_VALUES,
            ),
            opts=child_options(self, opts, depends_on=[namespaces[0]]),
        )
        after_crds = child_options(self, opts, depends_on=[manager])
        self.issuer_name = self._issuer(name, args, after_crds)
        self.certificate_secret = f"{args.host.replace('.', '-')}-tls"
        self._custom(
            f"{name}-certificate",
            _CERT_API,
            "Certificate",
            {"name": self.certificate_secret, "namespace": args.gateway_namespace},
            {
                "secretName": self.certificate_secret,
                "dnsNames": [args.host],
                "issuerRef": {"kind": "ClusterIssuer", "name": self.issuer_name, "group": "cert-manager.io"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "duration": "2160h",
                "renewBefore": "720h",
            },
            after_crds,
        )
        pod_labels = gateway_pod_labels(args.gateway_service_account)
        gateway_release = pinned_release(
            f"{name}-gateway",
            ISTIO_GATEWAY,
            args.gateway_namespace,
            {
                "service": {"type": "LoadBalancer"},
                "serviceAccount": {"name": args.gateway_service_account},
                # Said explicitly rather than left to the chart's naming, so the Gateway's selector
                # below and the pods' labels come from one function.
                "labels": pod_labels,
            },
            child_options(self, opts, depends_on=[namespaces[1]]),
            release_name=args.gateway_service_account,
        )
        after_gateway = child_options(self, opts, depends_on=[gateway_release])
        gateway_name = "model-gateway"
        self._custom(
            f"{name}-istio-gateway",
            "networking.istio.io/v1",
            "Gateway",
            {"name": gateway_name, "namespace": args.gateway_namespace},
            {
                "selector": pod_labels,
                "servers": [
                    {
                        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                        "hosts": [args.host],
                        "tls": {
                            "mode": "SIMPLE",
                            "credentialName": self.certificate_secret,
                            "minProtocolVersion": MIN_TLS_VERSION,
                        },
                    },
                    {
                        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": [args.host],
                        "tls": {"httpsRedirect": True},
                    },
                ],
            },
            after_gateway,
        )
        self._custom(
            f"{name}-virtual-service",
            "networking.istio.io/v1",
            "VirtualService",
            {"name": "model-api", "namespace": args.gateway_namespace},
            {
                "hosts": [args.host],
                "gateways": [gateway_name],
                "http": [
                    {
                        "match": [{"uri": {"exact": path}} for path in args.paths],
                        "route": [{"destination": {"host": args.service_host, "port": {"number": args.service_port}}}],
                    }
                ],
            },
            after_gateway,
        )
        self.register_outputs({"issuer_name": self.issuer_name, "certificate_secret": self.certificate_secret})

    def _issuer(self, name: str, args: EdgeTlsArgs, opts: pulumi.ResourceOptions) -> str:
        """Create the ClusterIssuer chain for `args.issuer`; return the name of the signing issuer."""
        if args.issuer == "acme":
            self._custom(
                f"{name}-acme-issuer",
                _CERT_API,
                "ClusterIssuer",
                {"name": "acme"},
                {
                    "acme": {
                        "server": args.acme_server,
                        "email": args.acme_email,
                        "privateKeySecretRef": {"name": "acme-account-key"},
                        "solvers": [{"http01": {"ingress": {"ingressClassName": "istio"}}}],
                    }
                },
                opts,
            )
            return "acme"
        root = self._custom(
            f"{name}-selfsigned-root", _CERT_API, "ClusterIssuer", {"name": "selfsigned-root"}, {"selfSigned": {}}, opts
        )
        ca_secret = "model-platform-ca"
        ca_certificate = self._custom(
            f"{name}-ca-certificate",
            _CERT_API,
            "Certificate",
            {"name": ca_secret, "namespace": args.cert_manager_namespace},
            {
                "isCA": True,
                "commonName": "model-platform-ca",
                "secretName": ca_secret,
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"kind": "ClusterIssuer", "name": "selfsigned-root", "group": "cert-manager.io"},
            },
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[root])),
        )
        self._custom(
            f"{name}-ca-issuer",
            _CERT_API,
            "ClusterIssuer",
            {"name": "model-platform-ca"},
            {"ca": {"secretName": ca_secret}},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ca_certificate])),
        )
        return "model-platform-ca"

    @staticmethod
    def _custom(
        logical_name: str,
        api_version: str,
        kind: str,
        metadata: dict[str, Any],
        spec: dict[str, Any],
        opts: pulumi.ResourceOptions,
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            logical_name, api_version=api_version, kind=kind, metadata=metadata, spec=spec, opts=opts
        )
