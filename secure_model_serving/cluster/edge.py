"""EdgeTls: cert-manager, a ClusterIssuer, the gateway's certificate, and TLS termination at the edge.

cert-manager is installed with `pulumi_kubernetes_cert_manager.CertManager` (chart pinned in
`components.versions`). The issuer is chosen by settings: `selfSigned` builds a private CA chain
(a self-signed root that only signs the CA certificate, and a CA issuer for everything else) for
environments without a public name; `acme` uses an ACME directory with a DNS-01 solver whose DNS
provider credentials come from cert-manager's workload identity (no key in a Secret). DNS-01, not
HTTP-01: the gateway redirects every plain-HTTP path to HTTPS, and an HTTP-01 challenge would need
Istio's Ingress controller, an IngressClass and a hole in that redirect on the public port. The
gateway terminates TLS 1.2+ for the model host and routes only the model's own paths to the model
Service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_kubernetes_cert_manager as cert_manager

from ..naming import CERT_MANAGER_NAMESPACE, TYPE_PREFIX
from ..options import child_options
from ..serving_vocabulary import CertificateIssuer, choices
from ..system import pinned_release, pod_security_labels_enforcing, system_namespace
from ..versions import CERT_MANAGER, ISTIO_GATEWAY
from .mesh import request_read_timeouts

__all__ = [
    "CERT_MANAGER_NAMESPACE",
    "MIN_TLS_VERSION",
    "CloudDnsSolver",
    "EdgeTls",
    "EdgeTlsArgs",
    "Route53Solver",
    "cert_manager_values",
    "gateway_pod_labels",
]

MIN_TLS_VERSION = "TLSV1_2"
"""Oldest TLS version the gateway accepts."""
"""cert-manager's namespace; it also holds the private CA's key (the cluster resource namespace)."""


@dataclass(frozen=True)
class Route53Solver:
    """DNS-01 through AWS Route 53, with the role cert-manager's service account assumes (IRSA)."""

    region: str
    hosted_zone_id: str
    role_arn: str

    def dns01(self) -> dict[str, Any]:
        # No access key fields: the SDK's default chain finds the web identity token IRSA mounts.
        return {"route53": {"region": self.region, "hostedZoneID": self.hosted_zone_id}}

    def service_account_annotations(self) -> dict[str, str]:
        return {"eks.amazonaws.com/role-arn": self.role_arn}


@dataclass(frozen=True)
class CloudDnsSolver:
    """DNS-01 through Google Cloud DNS, as the Google service account bound to cert-manager's
    Kubernetes service account (GKE workload identity)."""

    project: str
    google_service_account: str
    hosted_zone_name: str | None = None

    def dns01(self) -> dict[str, Any]:
        # No serviceAccountSecretRef: the metadata server answers for the bound identity.
        zone = {"hostedZoneName": self.hosted_zone_name} if self.hosted_zone_name else {}
        return {"cloudDNS": {"project": self.project, **zone}}

    def service_account_annotations(self) -> dict[str, str]:
        return {"iam.gke.io/gcp-service-account": self.google_service_account}


AcmeSolver = Route53Solver | CloudDnsSolver


def cert_manager_values(solver: AcmeSolver | None) -> dict[str, Any]:
    """Chart values given through `helm_options`. `crds`: the SDK's typed `install_crds` sets the
    chart's `installCRDs`, deprecated since cert-manager 1.15; the chart installs its CRDs and
    keeps them when the release is removed (deleting a CRD would delete every Certificate and
    Issuer with it). The DNS-01 solver's workload identity is an annotation of the controller's
    service account, the identity that calls the DNS provider."""
    values: dict[str, Any] = {"crds": {"enabled": True, "keep": True}}
    if solver is not None:
        values["serviceAccount"] = {"annotations": solver.service_account_annotations()}
    return values


_CERT_API = "cert-manager.io/v1"


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
    request_read_timeout_seconds: int = 10
    """How long the gateway waits to receive a request (the model server's own read bound)."""
    response_timeout_seconds: int = 15
    """How long the gateway waits for the model's answer once the request is received."""
    gateway_namespace: str = "istio-ingress"
    """Namespace of the ingress gateway (and of its certificate secret)."""
    gateway_service_account: str = "istio-ingressgateway"
    """ServiceAccount of the gateway pods: the caller identity the model admits."""
    issuer: CertificateIssuer = CertificateIssuer.SELF_SIGNED
    """selfSigned (a private CA chain) or acme."""
    acme_email: str | None = None
    """Contact address for the ACME account."""
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    """ACME directory URL."""
    acme_solver: AcmeSolver | None = None
    """The DNS-01 provider that proves control of `host` to the ACME server."""
    cert_manager_namespace: str = CERT_MANAGER_NAMESPACE
    """Namespace of cert-manager (and of the private CA's key)."""
    cert_manager_preinstalled: bool = False
    """cert-manager already runs in `cert_manager_namespace` (the cluster's platform installed it):
    create neither its namespace nor its release, only the issuer and the certificate. With acme,
    its service account must then carry the DNS-01 identity (cert_manager_values shows which)."""

    def __post_init__(self) -> None:
        problems = []
        if self.issuer not in set(CertificateIssuer):
            problems.append(f"issuer must be one of {choices(CertificateIssuer)}")
        if self.issuer == CertificateIssuer.ACME and not self.acme_email:
            problems.append("acme_email is required with issuer acme")
        if self.issuer == CertificateIssuer.ACME and self.acme_solver is None:
            problems.append("acme_solver (a DNS-01 provider) is required with issuer acme")
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
                *([] if args.cert_manager_preinstalled else [(args.cert_manager_namespace, {})]),
                # The gateway pods get their proxy from the injector ("gateway" template).
                (args.gateway_namespace, {"istio-injection": "enabled"}),
            )
        ]
        installed: list[pulumi.Resource] = []
        if not args.cert_manager_preinstalled:
            installed.append(
                cert_manager.CertManager(
                    f"{name}-cert-manager",
                    helm_options=cert_manager.ReleaseArgs(
                        namespace=args.cert_manager_namespace,
                        version=CERT_MANAGER.version,
                        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CERT_MANAGER.repository),
                        atomic=True,
                        values=cert_manager_values(args.acme_solver if args.issuer == CertificateIssuer.ACME else None),
                    ),
                    opts=child_options(self, opts, depends_on=[namespaces[0]]),
                )
            )
        after_crds = child_options(self, opts, depends_on=installed)
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
            child_options(self, opts, depends_on=[namespaces[-1]]),
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
                        # Istio sets no route timeout by default: a stalled model would hold the
                        # gateway's stream for as long as the client waits.
                        "timeout": f"{args.response_timeout_seconds}s",
                    }
                ],
            },
            after_gateway,
        )
        self._custom(
            f"{name}-request-read-timeout",
            "networking.istio.io/v1alpha3",
            "EnvoyFilter",
            {"name": "gateway-request-read-timeout", "namespace": args.gateway_namespace},
            request_read_timeouts("GATEWAY", pod_labels, args.request_read_timeout_seconds),
            after_gateway,
        )
        self.register_outputs({"issuer_name": self.issuer_name, "certificate_secret": self.certificate_secret})

    def _issuer(self, name: str, args: EdgeTlsArgs, opts: pulumi.ResourceOptions) -> str:
        """Create the ClusterIssuer chain for `args.issuer`; return the name of the signing issuer."""
        if args.issuer == CertificateIssuer.ACME:
            assert args.acme_solver is not None  # EdgeTlsArgs refuses acme without one
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
                        # Scoped to the one name this stack proves; a second issuer for another
                        # host cannot borrow this identity's zone rights through it.
                        "solvers": [{"dns01": args.acme_solver.dns01(), "selector": {"dnsNames": [args.host]}}],
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
