"""An ACME certificate can actually issue: every solver of every rendered ACME issuer is one the
cluster as rendered can complete.

HTTP-01 needs the ACME server to fetch `/.well-known/acme-challenge/<token>` over plain HTTP on the
public name: a solver Ingress only does that when its IngressClass exists and names Istio's
ingress controller, and the gateway's port-80 server does not redirect the challenge to HTTPS.
DNS-01 needs the provider's credentials: taken from cert-manager's workload identity (an
annotation on its service account), never from a key in a Secret. Both sides are checked against
the rendered objects and Helm release values of every stack, and each broken variant is refused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.stacks import STACKS

ISTIO_INGRESS_CONTROLLER = "istio.io/ingress-controller"
CHALLENGE_PATH = "/.well-known/acme-challenge/"
WORKLOAD_IDENTITY = {
    "route53": "eks.amazonaws.com/role-arn",
    "cloudDNS": "iam.gke.io/gcp-service-account",
}


def render(render_dir: Path) -> list[dict[str, Any]]:
    """The rendered Kubernetes objects (not the Helm release records)."""
    paths = sorted(render_dir.glob("*/*.yaml"))
    return [yaml.safe_load(path.read_text()) for path in paths if path.parent.name != "releases"]


def cert_manager_values(render_dir: Path) -> dict[str, Any]:
    (release,) = [yaml.safe_load(p.read_text()) for p in render_dir.glob("releases/certmanager-*.yaml")]
    return release["inputs"]["helmOptions"]["values"]


def challenge_redirected(objects: list[dict[str, Any]], host: str) -> bool:
    """Whether a Gateway's port-80 server for `host` redirects every path, the challenge's too."""
    for gateway in (o for o in objects if o["kind"] == "Gateway"):
        for server in gateway["spec"]["servers"]:
            if server["port"]["number"] == 80 and host in server["hosts"]:
                return bool(server.get("tls", {}).get("httpsRedirect"))
    return False


def solver_problems(objects: list[dict[str, Any]], release_values: dict[str, Any]) -> list[str]:
    """Why each ACME solver of the render could not complete its challenge; empty when all can."""
    classes = {o["metadata"]["name"]: o["spec"].get("controller") for o in objects if o["kind"] == "IngressClass"}
    annotations = release_values.get("serviceAccount", {}).get("annotations", {})
    problems = []
    for issuer in (o for o in objects if o["kind"] in {"ClusterIssuer", "Issuer"} and "acme" in o["spec"]):
        for solver in issuer["spec"]["acme"]["solvers"]:
            hosts = solver.get("selector", {}).get("dnsNames", [])
            if "http01" in solver:
                ingress = solver["http01"].get("ingress", {})
                name = ingress.get("ingressClassName") or ingress.get("class")
                if classes.get(name) != ISTIO_INGRESS_CONTROLLER:
                    problems.append(f"http01 names IngressClass {name!r}, which no Istio controller serves")
                problems += [
                    f"port 80 redirects {CHALLENGE_PATH} of {h}" for h in hosts if challenge_redirected(objects, h)
                ]
            for provider, body in solver.get("dns01", {}).items():
                if any(key.endswith("SecretRef") for key in body):
                    problems.append(f"dns01 {provider} reads a key from a Secret instead of a workload identity")
                if WORKLOAD_IDENTITY.get(provider) not in annotations:
                    problems.append(f"dns01 {provider}: cert-manager's service account has no workload identity")
    return problems


def acme_stacks() -> list[str]:
    return [s for s in STACKS if s != "dev"]


@pytest.mark.parametrize("stack", acme_stacks())
def test_every_acme_solver_of_the_render_can_complete(render_dirs: dict[str, Path], stack: str) -> None:
    objects = render(render_dirs[stack])
    assert any(o["kind"] == "ClusterIssuer" and "acme" in o["spec"] for o in objects), "stack uses ACME"
    assert solver_problems(objects, cert_manager_values(render_dirs[stack])) == []


@pytest.mark.parametrize("stack", acme_stacks())
def test_port_80_redirects_everything_as_no_challenge_needs_it(render_dirs: dict[str, Path], stack: str) -> None:
    objects = render(render_dirs[stack])
    (issuer,) = [o for o in objects if o["kind"] == "ClusterIssuer" and "acme" in o["spec"]]
    for solver in issuer["spec"]["acme"]["solvers"]:
        assert "http01" not in solver
        for host in solver["selector"]["dnsNames"]:
            assert challenge_redirected(objects, host)


def issuer_with(objects: list[dict[str, Any]], solver: dict[str, Any]) -> list[dict[str, Any]]:
    changed = copy.deepcopy(objects)
    (issuer,) = [o for o in changed if o["kind"] == "ClusterIssuer" and "acme" in o["spec"]]
    issuer["spec"]["acme"]["solvers"] = [solver]
    return changed


def test_broken_solvers_are_refused(render_dirs: dict[str, Path]) -> None:
    """The defect a review found (an HTTP-01 solver naming a class nobody serves, behind a redirect)
    and its near variants are each reported."""
    objects = render(render_dirs["prod"])
    values = cert_manager_values(render_dirs["prod"])
    host = "fraud-model.example.com"
    http01 = {"http01": {"ingress": {"ingressClassName": "istio"}}, "selector": {"dnsNames": [host]}}
    assert len(solver_problems(issuer_with(objects, http01), values)) == 2
    served = [
        *objects,
        {"kind": "IngressClass", "metadata": {"name": "istio"}, "spec": {"controller": ISTIO_INGRESS_CONTROLLER}},
    ]
    assert solver_problems(issuer_with(served, http01), values) == [f"port 80 redirects {CHALLENGE_PATH} of {host}"]
    keyed = {"dns01": {"route53": {"region": "eu-west-1", "secretAccessKeySecretRef": {"name": "aws", "key": "k"}}}}
    assert any("Secret" in p for p in solver_problems(issuer_with(objects, keyed), values))
    anonymous = {"serviceAccount": {"annotations": {}}}
    assert any("workload identity" in p for p in solver_problems(objects, anonymous))
