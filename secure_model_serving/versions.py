"""Every pinned version the platform deploys, and what upstream says about each, in one place.

Bump a version here and nowhere else; the components, the renderer and the tests read the same
constants. Chart versions are exact (never a range), so `pulumi preview` shows an upgrade as a diff.

Beside the pins sits the support matrix (`SUPPORT_MATRIX`): for each pinned add-on, the Kubernetes
minors its upstream declares, the oldest release line upstream still supports, and where and when
that was read. `tests/components/test_versions.py` fails when the targeted Kubernetes minor leaves
any add-on's range or a pin falls behind its oldest supported line; the stack settings refuse a
`kubernetesVersion` outside the range of an add-on the stack installs; the README's table is
generated from it (`support_matrix_markdown`). Upstream facts age: re-read the sources when bumping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "CERT_MANAGER",
    "CERT_MANAGER_SUPPORT",
    "DISTROLESS_PYTHON_SUPPORT",
    "EXTERNAL_SECRETS",
    "EXTERNAL_SECRETS_SUPPORT",
    "FALCO",
    "FALCO_SUPPORT",
    "GATEKEEPER",
    "GATEKEEPER_SUPPORT",
    "ISTIOD",
    "ISTIO_BASE",
    "ISTIO_CNI",
    "ISTIO_GATEWAY",
    "ISTIO_PROXY_IMAGE",
    "ISTIO_SUPPORT",
    "KUBERNETES_MAINTAINED",
    "KUBERNETES_TARGET",
    "MODEL_SERVER_PYTHON",
    "POD_SECURITY_LEVEL",
    "POD_SECURITY_VERSION",
    "POLICY_CONTROLLER",
    "POLICY_CONTROLLER_IMAGE",
    "POLICY_CONTROLLER_SUPPORT",
    "SUPPORT_MATRIX",
    "Confirmation",
    "HelmChart",
    "MinorRange",
    "Support",
    "kubernetes_minor",
    "outdated",
    "support_matrix_markdown",
    "unsupported",
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


def kubernetes_minor(version: str) -> int:
    """The minor of a Kubernetes version written `1.MINOR` (as in `kubernetesVersion`)."""
    match = re.fullmatch(r"1\.(\d{1,2})", version)
    if match is None:
        raise ValueError(f"expected a Kubernetes minor version such as {KUBERNETES_TARGET}, got {version!r}")
    return int(match.group(1))


@dataclass(frozen=True)
class MinorRange:
    """Kubernetes minors `1.low` to `1.high` an upstream declares; None at an end: no bound declared."""

    low: int | None = None
    high: int | None = None

    def __contains__(self, minor: object) -> bool:
        if not isinstance(minor, int):
            return False
        return (self.low is None or minor >= self.low) and (self.high is None or minor <= self.high)

    def __str__(self) -> str:
        if self.low is None and self.high is None:
            return "none declared"
        if self.high is None:
            return f"1.{self.low} and newer"
        if self.low is None:
            return f"up to 1.{self.high}"
        return f"1.{self.low}" if self.low == self.high else f"1.{self.low}-1.{self.high}"


class Confirmation(StrEnum):
    """Who confirms that the pinned release exists as pinned."""

    UPSTREAM = "upstream"
    """The project itself: its repository at the tag, its release notes or its docs."""
    THIRD_PARTY = "third-party pins"
    """Only other projects' pins and notes quoting upstream: check again before relying on it."""


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", version))


@dataclass(frozen=True)
class Support:
    """What upstream declares about one pinned release, and where and when that was read."""

    name: str
    """The component, as upstream names it."""
    version: str
    """The pinned release (for a chart, the chart version)."""
    kubernetes: MinorRange | None
    """Kubernetes minors upstream declares the release supports; None: not a cluster component."""
    oldest_supported: str | None
    """The oldest release line upstream still supports; None: upstream publishes no support policy."""
    confirmed_by: Confirmation
    """Who confirms the pinned release."""
    source: str
    """Where the range and the support policy were read."""
    read_on: date
    """When they were read."""
    basis: str
    """What the range and the line rest on, in one or two sentences."""
    tested: MinorRange | None = None
    """Kubernetes minors upstream's own CI runs, where that is narrower than what it declares."""

    @property
    def label(self) -> str:
        """Name and pinned version, as the errors and the README print them."""
        return f"{self.name} {self.version}"

    def supports(self, minor: int) -> bool:
        """True when upstream declares Kubernetes `1.minor` supported (or declares no range)."""
        return self.kubernetes is None or minor in self.kubernetes

    def is_outdated(self) -> bool:
        """True when the pin is older than the oldest release line upstream still supports."""
        if self.oldest_supported is None:
            return False
        line = _numbers(self.oldest_supported)
        return _numbers(self.version)[: len(line)] < line


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
# 1.31.1 (2026-09-21) is the newest patch seen; neither a 1.31.2 nor 1.32 is confirmed. The chart
# values set by components.mesh (istiod's top-level cni/replicaCount/autoscaleMin, global.proxy and
# global.proxy_init images, meshConfig, sidecarInjectorWebhook; cni's excludeNamespaces,
# seccompProfile, resourceQuotas; the gateway's service and serviceAccount) were read on the
# release-1.31 branch and are unchanged from 1.30.
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


MODEL_SERVER_PYTHON = "3.13"
"""The Python minor of the model server image: the distroless python3-debian13 runtime's (3.13.5 at
the time of reading), which the image's build stage and app/requirements.txt must match."""

# --- the support matrix ----------------------------------------------------------------------

_READ_ON = date(2026, 11, 29)

KUBERNETES_MAINTAINED = MinorRange(35, 37)
"""Kubernetes minors upstream maintains (kubernetes.io/releases, read 2026-11-29): 1.34 reached end
of life on 2026-10-27; 1.35 is maintained until 2027-02-28, 1.36 until 2027-06-28, 1.37 until
2027-10-28."""

GATEKEEPER_SUPPORT = Support(
    name="OPA Gatekeeper",
    version=GATEKEEPER.version,
    kubernetes=KUBERNETES_MAINTAINED,
    oldest_supported="3.22",
    confirmed_by=Confirmation.THIRD_PARTY,
    source="https://github.com/open-policy-agent/gatekeeper/blob/v3.23.0/docs/Release_Management.md",
    read_on=_READ_ON,
    basis="Declares no fixed range: compatible with the Kubernetes versions upstream maintains. Supports "
    "its newest two minors. The v3.23.1 tag resolves as a Go module; the 3.23.1 chart is seen in "
    "third-party pins.",
)

ISTIO_SUPPORT = Support(
    name="Istio",
    version=_ISTIO_VERSION,
    kubernetes=MinorRange(32, 37),
    oldest_supported="1.30",
    confirmed_by=Confirmation.THIRD_PARTY,
    source="https://istio.io/latest/docs/releases/supported-releases/",
    read_on=_READ_ON,
    basis="A minor is supported until six weeks after the second next minor; 1.32 is not seen "
    "released, so 1.30 is still supported. The 1.31 announcement named Kubernetes 1.32-1.36; 1.37 was "
    "added on 2026-09-30, as quoted by third parties. 1.31.1 is seen in third-party pins.",
)

CERT_MANAGER_SUPPORT = Support(
    name="cert-manager",
    version=CERT_MANAGER.version,
    kubernetes=MinorRange(33, 36),
    oldest_supported="1.20",
    confirmed_by=Confirmation.THIRD_PARTY,
    source="https://cert-manager.io/docs/releases/",
    read_on=_READ_ON,
    basis="Upstream's table: 1.21 supports Kubernetes 1.33-1.36 and lasts until 1.23 is released; 1.20 "
    "until 1.22; 1.19 ended with 1.21.0. v1.21.2 is seen in third-party pins (v1.21.1 upstream).",
)

EXTERNAL_SECRETS_SUPPORT = Support(
    name="External Secrets Operator",
    version=EXTERNAL_SECRETS.version,
    kubernetes=MinorRange(36, 36),
    oldest_supported="2.12",
    confirmed_by=Confirmation.THIRD_PARTY,
    source="https://external-secrets.io/latest/introduction/stability-support/",
    read_on=_READ_ON,
    basis="Only the newest minor is supported, and only on the Kubernetes versions of its test suite. "
    "The newest row read (2.9, 2026-08-08) lists 1.36; the rows of 2.10-2.12 were not seen. 2.12.0 "
    "is seen in third-party pins.",
)

FALCO_SUPPORT = Support(
    name="Falco (chart)",
    version=FALCO.version,
    kubernetes=MinorRange(),
    oldest_supported=None,
    confirmed_by=Confirmation.UPSTREAM,
    source="https://github.com/falcosecurity/falco/pull/4012",
    read_on=_READ_ON,
    basis="Chart 9.2.0 (Falco 0.45.0) was released upstream on 2026-09-21. The chart sets no "
    "kubeVersion and Falco publishes neither a Kubernetes matrix nor a support policy.",
)

POLICY_CONTROLLER_SUPPORT = Support(
    name="Sigstore policy-controller (chart)",
    version=POLICY_CONTROLLER.version,
    kubernetes=MinorRange(27, None),
    oldest_supported=None,
    confirmed_by=Confirmation.UPSTREAM,
    source="https://github.com/sigstore/policy-controller/blob/v0.13.1/README.md",
    read_on=_READ_ON,
    basis="No maintained range: the README's table for releases after 0.10 ticks 1.27-1.29 and has "
    "not been updated since; this project reads it as a lower bound. The chart sets no kubeVersion. "
    "Upstream CI at v0.13.1 (the chart's app) runs 1.30-1.33, so 1.36 is beyond what upstream tests. "
    "No support policy is published.",
    tested=MinorRange(30, 33),
)

DISTROLESS_PYTHON_SUPPORT = Support(
    name="distroless python3 (model server runtime)",
    version="python3-debian13",
    kubernetes=None,
    oldest_supported="python3-debian13",
    confirmed_by=Confirmation.UPSTREAM,
    source="https://github.com/GoogleContainerTools/distroless/blob/main/SUPPORT_POLICY.md",
    read_on=_READ_ON,
    basis="Debian 12 python images reached end of life in April 2026 and python3-debian12 was removed; "
    "python3-debian13 (Python 3.13) is supported until three months after Debian 14's release.",
)

SUPPORT_MATRIX: tuple[Support, ...] = (
    GATEKEEPER_SUPPORT,
    ISTIO_SUPPORT,
    CERT_MANAGER_SUPPORT,
    EXTERNAL_SECRETS_SUPPORT,
    FALCO_SUPPORT,
    POLICY_CONTROLLER_SUPPORT,
    DISTROLESS_PYTHON_SUPPORT,
)
"""Every pin with what upstream declares about it."""


def unsupported(kubernetes_version: str, entries: Iterable[Support] = SUPPORT_MATRIX) -> list[Support]:
    """The entries whose declared Kubernetes range leaves out `kubernetes_version` (`1.MINOR`)."""
    minor = kubernetes_minor(kubernetes_version)
    return [entry for entry in entries if not entry.supports(minor)]


def outdated(entries: Iterable[Support] = SUPPORT_MATRIX) -> list[Support]:
    """The entries pinned to a release older than the oldest line upstream still supports."""
    return [entry for entry in entries if entry.is_outdated()]


def support_matrix_markdown() -> str:
    """The README's support table, generated from SUPPORT_MATRIX."""
    lines = [
        f"Targeted Kubernetes minor: **{KUBERNETES_TARGET}** (upstream maintains {KUBERNETES_MAINTAINED}, "
        f"read {_READ_ON.isoformat()}).",
        "",
        "| component | pinned | Kubernetes declared | oldest supported line | release confirmed by | source (read) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in SUPPORT_MATRIX:
        kubernetes = "n/a (image)" if entry.kubernetes is None else str(entry.kubernetes)
        if entry.tested is not None:
            kubernetes += f" (CI tests {entry.tested})"
        oldest = entry.oldest_supported or "no policy published"
        lines.append(
            f"| {entry.name} | `{entry.version}` | {kubernetes} | {oldest} | {entry.confirmed_by.value} "
            f"| [{entry.source.split('//', 1)[1].split('/', 1)[0]}]({entry.source}) ({entry.read_on.isoformat()}) |"
        )
    lines.append("")
    lines.extend(f"- **{entry.name}**: {entry.basis}" for entry in SUPPORT_MATRIX)
    return "\n".join(lines) + "\n"
