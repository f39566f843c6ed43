"""The policy pack as the Pulumi CLI runs it: its own entry point in its own pinned virtualenv,
judged over gRPC through pulumi_policy's analyzer servicer with requests encoded as the CLI
encodes them (a Struct of properties, unknown values as the engine's sentinel, secrets wrapped).

The pack's virtualenv is made by `make setup` (policy_pack/requirements.txt + constraints.txt);
without it these tests fail rather than skip, since this is the only place the adapter runs.
"""

from __future__ import annotations

import copy
import json
import os
import select
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy_pack.validation import MANDATORY_POLICIES, UNJUDGED, policy_names
from tools.toolchain import TOOLS

PACK = Path(__file__).resolve().parents[2] / "policy_pack"
PACK_PYTHON = PACK / "venv" / "bin" / "python"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"


class Analyzer:
    """A running pack and a client of its gRPC analyzer."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        if not PACK_PYTHON.is_file():
            pytest.fail(f"the policy pack's virtualenv is missing ({PACK_PYTHON.parent.parent}): run `make setup`")
        self.process = subprocess.Popen(
            [str(PACK_PYTHON), "__main__.py"],
            cwd=PACK,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(environment or {})},
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            self.close()
            pytest.fail(f"the pack did not print its port: {line!r} {self.process.stderr.read().decode()[-2000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def analyze(self, resource_type: str, properties: dict[str, Any], name: str = "r") -> list[Any]:
        request = proto.AnalyzeRequest(
            type=resource_type,
            properties=json_format.ParseDict(properties, struct_pb2.Struct()),
            urn=f"urn:pulumi:test::secure-model-serving::{resource_type}::{name}",
            name=name,
        )
        return list(self.stub.Analyze(request, timeout=120).diagnostics)

    def configure(self, levels: dict[str, int]) -> None:
        config = {name: proto.PolicyConfig(enforcementLevel=level) for name, level in levels.items()}
        self.stub.Configure(proto.ConfigureAnalyzerRequest(policyConfig=config), timeout=30)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Analyzer]:
    running = Analyzer()
    yield running
    running.close()


@pytest.fixture
def deployment(render_dirs: dict[str, Path]) -> dict[str, Any]:
    return yaml.safe_load((render_dirs["prod"] / "fraud-model" / "deployment-fraud-detector.yaml").read_text())


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def mandatory(diagnostics: list[Any]) -> dict[str, str]:
    """Policy name -> message of every mandatory diagnostic; fails on any other level, so nothing
    the pack refuses is quietly advisory."""
    assert all(d.enforcementLevel == proto.MANDATORY for d in diagnostics), diagnostics
    return {d.policyName: d.message for d in diagnostics}


def release_inputs(document: dict[str, Any]) -> dict[str, Any]:
    """A rendered Helm release (releases/*.yaml) back as the inputs of a Release resource."""
    return {
        "chart": document["chart"],
        "version": document["version"],
        "namespace": document["namespace"],
        "repositoryOpts": {"repo": document["repository"]},
        "values": document.get("values") or {},
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_resource_passes_the_real_analyzer(
    analyzer: Analyzer, render_dirs: dict[str, Path], stack: str
) -> None:
    root = render_dirs[stack]
    judged = 0
    for entry in json.loads((root / "index.json").read_text()):
        if entry["file"] is None or not entry["type"].startswith("kubernetes:"):
            continue
        document = yaml.safe_load((root / entry["file"]).read_text())
        properties = release_inputs(document) if entry["type"] == RELEASE else document
        assert analyzer.analyze(entry["type"], properties, entry["name"]) == [], entry
        judged += 1
    assert judged > 30


def test_a_privileged_deployment_is_refused_as_mandatory(analyzer: Analyzer, deployment: dict[str, Any]) -> None:
    container(deployment)["securityContext"]["privileged"] = True
    found = mandatory(analyzer.analyze(DEPLOYMENT, deployment))
    assert set(found) == {"deny-privileged-containers"}
    assert "privileged" in found["deny-privileged-containers"]


def test_a_secret_value_is_judged_like_a_plain_one(analyzer: Analyzer, deployment: dict[str, Any]) -> None:
    secret = {rpc._special_sig_key: rpc._special_secret_sig, "value": True}
    container(deployment)["securityContext"]["privileged"] = secret
    assert set(mandatory(analyzer.analyze(DEPLOYMENT, deployment))) == {"deny-privileged-containers"}


def test_an_unknown_security_value_fails_closed(analyzer: Analyzer, deployment: dict[str, Any]) -> None:
    container(deployment)["securityContext"]["privileged"] = rpc.UNKNOWN
    found = mandatory(analyzer.analyze(DEPLOYMENT, deployment))
    assert set(found) == {UNJUDGED}
    assert ".spec.template.spec.containers[0].securityContext.privileged" in found[UNJUDGED]
    assert "unknown" in found[UNJUDGED]


def test_an_unknown_namespace_is_judged_as_a_model_namespace(analyzer: Analyzer, deployment: dict[str, Any]) -> None:
    deployment["metadata"]["namespace"] = rpc.UNKNOWN
    assert analyzer.analyze(DEPLOYMENT, deployment) == []
    container(deployment)["securityContext"]["privileged"] = True
    assert set(mandatory(analyzer.analyze(DEPLOYMENT, deployment))) == {"deny-privileged-containers"}


def test_patches_of_judged_kinds_are_refused(analyzer: Analyzer) -> None:
    patch = {"metadata": {"name": "fraud-detector", "namespace": "fraud-model"}, "spec": {"replicas": 3}}
    found = mandatory(analyzer.analyze("kubernetes:apps/v1:DeploymentPatch", patch))
    assert set(found) == {UNJUDGED} and "patch" in found[UNJUDGED]
    assert set(mandatory(analyzer.analyze("kubernetes:core/v1:PodPatch", patch))) == {UNJUDGED}
    config_map = {"metadata": {"name": "settings", "namespace": "fraud-model"}, "data": {"a": "b"}}
    assert analyzer.analyze("kubernetes:core/v1:ConfigMapPatch", config_map) == []


def test_any_kind_through_a_custom_resource_or_a_list_is_judged(analyzer: Analyzer, deployment: dict[str, Any]) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": "fraud-model"},
        "spec": copy.deepcopy(deployment["spec"]["template"]["spec"]),
    }
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    resource = "kubernetes:apiextensions.k8s.io:CustomResource"
    assert "deny-privileged-containers" in mandatory(analyzer.analyze(resource, pod))
    pods = {"metadata": {}, "items": [{key: pod[key] for key in ("metadata", "spec")}]}
    assert "deny-privileged-containers" in mandatory(analyzer.analyze("kubernetes:core/v1:PodList", pods))


def test_only_the_platforms_pinned_charts_pass_as_helm_releases(
    analyzer: Analyzer, render_dirs: dict[str, Path]
) -> None:
    rendered = render_dirs["prod"] / "releases" / "release-admission-gatekeeper.yaml"
    pinned = release_inputs(yaml.safe_load(rendered.read_text()))
    assert analyzer.analyze(RELEASE, pinned) == []
    for changed in (
        {"chart": "privileged-debugger"},
        {"version": "3.0.0"},
        {"repositoryOpts": {"repo": "https://x.test"}},
    ):
        found = mandatory(analyzer.analyze(RELEASE, {**pinned, **changed}))
        assert set(found) == {UNJUDGED} and "pins" in found[UNJUDGED], changed
    assert set(mandatory(analyzer.analyze("kubernetes:helm.sh/v4:Release", {**pinned, "chart": "other"}))) == {UNJUDGED}


def test_the_analyzer_declares_the_mandatory_policies(analyzer: Analyzer) -> None:
    info = analyzer.stub.GetAnalyzerInfo(struct_pb2.Struct(), timeout=30)
    levels = {policy.name: policy.enforcementLevel for policy in info.policies}
    assert set(levels) == {*policy_names(), UNJUDGED}
    assert all(levels[name] == proto.MANDATORY for name in MANDATORY_POLICIES)


def test_a_config_cannot_lower_a_mandatory_policy(deployment: dict[str, Any]) -> None:
    pack = Analyzer()
    try:
        for name in ("deny-privileged-containers", UNJUDGED):
            for level in (proto.ADVISORY, proto.DISABLED):
                with pytest.raises(grpc.RpcError) as refused:
                    pack.configure({name: level})
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert name in refused.value.details() and "mandatory" in refused.value.details()
        container(deployment)["securityContext"]["privileged"] = True
        assert set(mandatory(pack.analyze(DEPLOYMENT, deployment))) == {"deny-privileged-containers"}
        # A rule outside the restricted set may be tuned: its violation is then advisory.
        pack.configure({"deny-unpinned-images": proto.ADVISORY})
        container(deployment)["securityContext"]["privileged"] = False
        container(deployment)["image"] = "registry.example.com/models/fraud-detector:1.2.3"
        (diagnostic,) = pack.analyze(DEPLOYMENT, deployment)
        assert (diagnostic.policyName, diagnostic.enforcementLevel) == ("deny-unpinned-images", proto.ADVISORY)
    finally:
        pack.close()


def test_an_engine_failure_refuses_the_resource(tmp_path: Path, deployment: dict[str, Any]) -> None:
    gator = tmp_path / "gator"
    version = TOOLS["gator"].version
    gator.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "gator version {version}" && exit 0\nexit 3\n')
    gator.chmod(gator.stat().st_mode | stat.S_IXUSR)
    pack = Analyzer({TOOLS["gator"].env_var: str(gator)})
    try:
        found = mandatory(pack.analyze(DEPLOYMENT, deployment))
        assert set(found) == {UNJUDGED} and "engine failed" in found[UNJUDGED]
    finally:
        pack.close()
