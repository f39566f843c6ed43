"""Every pinned version the platform deploys, in one place.

Bump a version here and nowhere else; the components, the renderer and the tests read the same
constants. Chart versions are exact (never a range), so `pulumi preview` shows an upgrade as a diff.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CERT_MANAGER",
    "EXTERNAL_SECRETS",
    "FALCO",
    "GATEKEEPER",
    "ISTIOD",
    "ISTIO_BASE",
    "ISTIO_CNI",
    "ISTIO_GATEWAY",
    "ISTIO_PROXY_IMAGE",
    "KUBERNETES_TARGET",
    "POD_SECURITY_LEVEL",
    "POD_SECURITY_VERSION",
    "POLICY_CONTROLLER",
    "POLICY_CONTROLLER_IMAGE",
    "HelmChart",
]

KUBERNETES_TARGET = "1.36"
"""The Kubernetes minor the platform targets: the default `kubernetesVersion`, the one every stack
names, the one the render is validated against and the API-server tier runs. It is the newest
minor that every pinned add-on supports (cert-manager 1.21 stops at 1.36)."""

POD_SECURITY_LEVEL = "restricted"
"""Pod Security Standards level enforced, audited and warned on in every model namespace."""

POD_SECURITY_VERSION = f"v{KUBERNETES_TARGET}"
"""Pod Security Standards version the component Args pin by default (a stack pins its own from its
`kubernetesVersion`): the checks of that release, never `latest`, which changes under a cluster
upgrade."""


@dataclass(frozen=True)
class HelmChart:
    """A Helm chart pinned to one version, and the repository it comes from."""

    name: str
    version: str
    repository: str


GATEKEEPER = HelmChart(
    name="gatekeeper",
    version="3.23.1",
    repository="https://open-policy-agent.github.io/gatekeeper/charts",
)
"""OPA Gatekeeper: ConstraintTemplates v1 with Rego v1 `code` sources and ExpansionTemplates.

The same release as the gator and manager binaries the tests build (`tools/toolchain.py`), so the
offline verdicts are the webhook's. The v3.23.1 tag resolves as a Go module; the 3.23.1 chart is
seen in third-party pins. The chart's values were read at v3.23.0 (the 3.24 beta changes only the
image tags): `pdb.controllerManager.minAvailable` (there is no `podDisruptionBudget` key),
`enableGeneratorResourceExpansion` (rendered as the manager's and audit's
`--enable-generator-resource-expansion`, default true), `disableMutation` (there is no `mutation`
key), `validatingWebhookExemptNamespacesLabels`, `controllerManager.exemptNamespaces`,
`postInstall.labelNamespace.enabled` and `preUninstall.deleteWebhookConfigurations.enabled`."""

FALCO = HelmChart(
    name="falco",
    version="9.2.0",
    repository="https://falcosecurity.github.io/charts",
)
"""Falco with the modern eBPF probe (least-privileged mode), `customRules` and Falcosidekick.

Chart 9.2.0 ships Falco 0.45.0 (its release pull request in falcosecurity/falco, where the chart
is now developed, merged 2026-09-21). The chart's values were read at 9.1.0 and on the chart's
development branch (July 2026), where they are identical; 9.2.0's release pull requests name the
Falco version, the k8s-metacollector sub-chart (not enabled here) and one back-ported chart fix,
not read. Since 9.0 the chart has no legacy eBPF probe,
gRPC output or gVisor engine: `driver.kind` is `kmod` or `modern_ebpf`, and
`driver.modernEbpf.leastPrivileged` swaps the privileged container for CAP_SYS_RESOURCE, CAP_BPF,
CAP_PERFMON and CAP_SYS_PTRACE. Falco 0.45 evaluates rule conditions on raw bytes."""

EXTERNAL_SECRETS = HelmChart(
    name="external-secrets",
    version="2.12.0",
    repository="https://charts.external-secrets.io",
)
"""External Secrets Operator; serves `external-secrets.io/v1` SecretStore and ExternalSecret.

Upstream supports only its newest minor. 2.12.0 (chart and app) is the newest release seen, in
third-party pins and notes that link its release; upstream's repository was read at chart 2.9.0,
where every value set here exists (`leaderElect`, the `process*` switches, `installCRDs`,
`podDisruptionBudget`) and `external-secrets.io/v1` is the served storage version (`v1beta1` is
not served unless `crds.unsafeServeV1Beta1`)."""

_ISTIO_VERSION = "1.31.1"
# From 1.31 Istio publishes its Helm charts here (and as OCI charts under ghcr.io/istio/release/charts)
# and no longer to istio-release.storage.googleapis.com, whose hosting is switched off in December
# 2026 (Istio 1.31 upgrade notes, "GCP infrastructure and hosted services deprecated").
_ISTIO_CHARTS = "https://blob.istio.io/istio-release/charts"
ISTIO_BASE = HelmChart(name="base", version=_ISTIO_VERSION, repository=_ISTIO_CHARTS)
"""Istio CRDs and cluster-wide resources; installed first."""
ISTIOD = HelmChart(name="istiod", version=_ISTIO_VERSION, repository=_ISTIO_CHARTS)
"""The Istio control plane and the sidecar injector."""
ISTIO_CNI = HelmChart(name="cni", version=_ISTIO_VERSION, repository=_ISTIO_CHARTS)
"""The CNI node agent: sets up traffic redirection so injected pods need no NET_ADMIN."""
ISTIO_GATEWAY = HelmChart(name="gateway", version=_ISTIO_VERSION, repository=_ISTIO_CHARTS)
"""The ingress gateway deployment."""
ISTIO_PROXY_IMAGE = (
    "docker.io/istio/proxyv2:1.31.1@sha256:d86cba0dd1eb15c00b6901c69ce5ae3d2d5f8427a47751098cf8c3ab2a4a62e9"
)
"""The sidecar image, pinned by digest: the injector uses it verbatim (it contains a `/`), and
admission exempts exactly this reference from the UID floor, registry and pull-policy rules.
Confirm the digest against the registry when bumping the version."""

CERT_MANAGER = HelmChart(name="cert-manager", version="v1.21.2", repository="https://charts.jetstack.io")
"""cert-manager, installed through pulumi-kubernetes-cert-manager; issues the gateway's certificate.

1.21 fixes GHSA-8rvj-mm4h-c258 (the `cert-manager-edit` aggregate role let namespace users create
ACME Challenges and Orders directly; fixed in 1.19.6, 1.20.3 and every 1.21). 1.19 is end of life
since 1.21.0. v1.21.2 is the newest 1.21 patch as seen in third-party pins and release-note
quotes; upstream's repository was read at v1.21.1, and the values set here were checked against
the chart there. 1.21 drops `prometheus.servicemonitor.targetPort`/`path` and the default tokenrequest
Role, neither of which is set here. The Jetstack repository serves the same chart as
oci://quay.io/jetstack/charts/cert-manager, a few hours later."""

POLICY_CONTROLLER = HelmChart(
    name="policy-controller", version="0.10.6", repository="https://sigstore.github.io/helm-charts"
)
"""Sigstore policy-controller: admits only images whose signatures match a ClusterImagePolicy.

0.10.6 (2025-11-19) is the newest chart; it only drops a values schema from 0.10.5."""

POLICY_CONTROLLER_IMAGE = (
    "ghcr.io/sigstore/policy-controller/policy-controller:v0.13.1"
    "@sha256:0bcd60beb93f4427c29cf3a669743caf58490e98ded4380c33c09f092734a6ab"
)
"""The controller image: the chart's own appVersion at the digest the chart records (taken there
with `crane digest`), set explicitly so the pin is visible here and in the render. Decision: stay
on v0.13.1 although v0.14.0 and v0.15.1 (2026-03-26) are tagged upstream. No chart ships them,
so the webhook configuration, RBAC and CRDs they expect are untested with this chart, and no
digest for them is recorded upstream; move when a chart release carries a newer app."""
