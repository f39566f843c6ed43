"""The real `pulumi up` tier, step by step; each step returns the numbers the summary prints.

`main` first checks an upgrade in a sandbox of its own: a stack created by the program as it was
before model tenants, then previewed and updated by the current one (tests/e2e_pulumi/upgrade.py).
Then it brings the sandbox up (etcd, kube-apiserver, the Gatekeeper manager, the CRDs of
../shared/crds, the preinstalled add-ons' namespaces), and drives the Pulumi CLI against it:
`up`, a second `preview`, the policy pack's previews, an image-digest change, the secret's scan,
`destroy` of the protected production stack. Last, split ownership in a sandbox of its own: a
platform stack's `up`, a tenant stack that sets a platform key refused at preview, then the tenant
stack's `up` on the platform it reads through a StackReference (tests/e2e_pulumi/split.py). A check
that does not hold raises `CheckFailedError`.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from secure_model_serving.cluster.admission import gatekeeper_values
from secure_model_serving.program.platform import admission_args
from secure_model_serving.program.split import PLATFORM_OUTPUT
from secure_model_serving.settings import StackSettings
from tests.e2e_pulumi.cli import Pulumi
from tests.e2e_pulumi.collector import ForegroundDeletion
from tests.e2e_pulumi.events import (
    Step,
    changes,
    finished_before_started,
    policy_violations,
    read_events,
    refused_deletes,
    steps,
    summary_counts,
)
from tests.e2e_pulumi.program import PRIVILEGED_ENV
from tests.e2e_pulumi.project import (
    PROJECT,
    STACK,
    addon_namespaces,
    e2e_stack_config,
    production_config,
    settings_of,
    write_project,
)
from tests.e2e_pulumi.secrets_scan import holders, list_all_objects, plaintext_count
from tests.e2e_pulumi.split import (
    PLATFORM_STACK,
    REFUSED_KEY,
    TENANT_STACK,
    platform_stack_config,
    refusal_names,
    registered_namespaces,
    tenant_objects,
    tenant_stack_config,
)
from tests.e2e_pulumi.upgrade import UPGRADE_FROM, UpgradeVerdict, export_tree, judge_upgrade
from tools.mock_engine import REPO_ROOT
from tools.render import render_with_outputs
from tools.sandbox.client import ApiClient, ApiError
from tools.sandbox.cluster import admin_client, start_platform
from tools.sandbox.stack import CrdIndex, GatekeeperRelease, crd_folder
from tools.sandbox.state import SandboxState

__all__ = ["CheckFailedError", "Results", "main"]

_CONSTRAINT_GROUP = "constraints.gatekeeper.sh/"
_TEMPLATE_TYPE = "kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate"
_EXPANSION_TYPE = "kubernetes:expansion.gatekeeper.sh/v1beta1:ExpansionTemplate"
_DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
_STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


class CheckFailedError(AssertionError):
    """A property of the tier did not hold; the message says which and why."""


@dataclass
class Results:
    """The numbers of the summary line, filled in step by step."""

    upgrade: UpgradeVerdict | None = None
    created: int = 0
    found_in_cluster: int = 0
    second_preview_changes: int = -1
    digest_changes: list[str] = field(default_factory=list)
    ordering: dict[str, tuple[int, int]] = field(default_factory=dict)
    state_markers: int = -1
    state_ciphertexts: int = 0
    marker_in_secrets: list[str] = field(default_factory=list)
    marker_elsewhere: list[str] = field(default_factory=list)
    scanned_objects: int = 0
    clean_violations: int = -1
    privileged_violations: int = 0
    privileged_refused: bool = False
    protected: int = 0
    protected_kept: int = 0
    refused_deletes: int = 0
    destroy_refused: bool = False
    split_platform_created: int = -1
    split_tenant_created: int = -1
    split_tenant_objects: int = 0
    split_refused: bool = False
    split_namespace: str = ""

    def summary(self) -> str:
        order = ", ".join(f"{name} {held}/{total}" for name, (held, total) in self.ordering.items())
        upgrade = self.upgrade.line(UPGRADE_FROM) if self.upgrade else f"upgrade from {UPGRADE_FROM[:7]}: NOT RUN"
        split = (
            f"split: platform up {self.split_platform_created}, tenant up {self.split_tenant_created} "
            f"({self.split_tenant_objects} objects in {self.split_namespace or 'its namespace'}), "
            f"platform key {'refused' if self.split_refused else 'NOT refused'}"
        )
        return (
            f"pulumi: {upgrade}; up {self.created} resources ({self.found_in_cluster} objects in the API server); "
            f"second preview {self.second_preview_changes} changes; "
            f"state {self.state_markers} plaintext secret markers ({self.state_ciphertexts} ciphertexts); "
            f"API objects with the marker {len(self.marker_in_secrets)} Secret, {len(self.marker_elsewhere)} other "
            f"(of {self.scanned_objects}); "
            f"digest change updated {len(self.digest_changes)} ({', '.join(self.digest_changes) or 'none'}); "
            f"ordering {order}; "
            f"policy pack clean preview {self.clean_violations} violations, privileged preview "
            f"{'refused' if self.privileged_refused else 'PASSED'} with {self.privileged_violations} violations; "
            f"destroy {'refused' if self.destroy_refused else 'NOT refused'} "
            f"({self.refused_deletes} protected deletes refused), "
            f"protected {self.protected_kept}/{self.protected} kept; {split}"
        )


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailedError(message)


# --- setting up -----------------------------------------------------------------------------


def gatekeeper_release(settings: StackSettings) -> GatekeeperRelease:
    """What the stack's Gatekeeper release would configure, for the sandbox's manager."""
    args = admission_args(settings)
    return GatekeeperRelease.from_record({"namespace": args.namespace, "values": gatekeeper_values(args)})


def rendered_objects(
    stack: str, config: dict[str, Any], platform_outputs: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The Kubernetes objects of a stack file's `config:` map as the offline render builds them,
    and the stack's outputs (a tenant stack's platform answered by `platform_outputs`)."""
    rendered, outputs = render_with_outputs(stack, config, (), platform_outputs)
    return [item.document for item in rendered if item.document and "apiVersion" in item.document], outputs


def start_sandbox(
    objects: list[dict[str, Any]], settings: StackSettings, root: Path, stack: str = STACK
) -> SandboxState:
    """The sandbox for `objects`: the CRDs they need, the add-ons' namespaces, Gatekeeper."""
    crds = CrdIndex(crd_folder()).needed(objects)
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in addon_namespaces(settings)
    ]
    return start_platform(gatekeeper_release(settings), crds, namespaces, root=root, stack=stack, progress=_say)


def new_stack(pulumi: Pulumi, stack: str, config: dict[str, Any]) -> None:
    """Create `stack` (passphrase secrets provider) and write its config; it is then selected."""
    pulumi.run("stack", "init", stack, "--secrets-provider", "passphrase")
    stack_file = pulumi.project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}
    document["config"] = config
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def init_stack(pulumi: Pulumi, config: dict[str, Any], alert_url: str) -> None:
    """Create the production stack, write its config, set the alert URL secret."""
    new_stack(pulumi, STACK, config)
    pulumi.run("config", "set", "--secret", f"{PROJECT}:alertUrl", alert_url)


# --- the checks -------------------------------------------------------------------------------


def _log(pulumi: Pulumi, name: str) -> Path:
    return pulumi.root / f"events-{name}.jsonl"


def up(pulumi: Pulumi, name: str, *extra: str) -> list[dict[str, Any]]:
    """`pulumi up`; return its engine events."""
    log = _log(pulumi, name)
    pulumi.run("up", "--yes", "--skip-preview", "--event-log", str(log), *extra)
    return read_events(log)


def preview(
    pulumi: Pulumi, name: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """`pulumi preview`; return its exit status and its engine events."""
    log = _log(pulumi, name)
    result = pulumi.run("preview", "--event-log", str(log), *extra, check=False, env=env)
    return result.returncode, read_events(log)


def kubernetes_objects(created: list[Step]) -> list[dict[str, Any]]:
    """The Kubernetes objects among the created resources, as their outputs describe them."""
    return [dict(step.outputs) for step in created if step.outputs.get("apiVersion") and step.outputs.get("kind")]


def exists(client: ApiClient, obj: dict[str, Any]) -> bool:
    _, path = client.paths(obj)
    try:
        client.get(path)
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def check_up(events: list[dict[str, Any]], client: ApiClient, results: Results) -> list[Step]:
    """a. every resource created, none failed, each Kubernetes object there in the API server."""
    created = created_in_cluster(events, client)
    results.created = len(created)
    results.found_in_cluster = len(kubernetes_objects(created))
    return created


def created_in_cluster(events: list[dict[str, Any]], client: ApiClient) -> list[Step]:
    """The created resources of a `pulumi up`, once it is shown that every resource was created,
    none failed, and each Kubernetes object is there in the API server."""
    done = steps(events)
    failed = [event for event in events if "resOpFailedEvent" in event]
    _check(not failed, f"pulumi up: {len(failed)} resource operations failed")
    # The engine's summary leaves out the default provider, a resource of the engine's own.
    created = [step for step in done if step.op == "create" and not step.type.startswith("pulumi:providers:")]
    _check(all(step.finished is not None for step in created), "pulumi up: a create produced no outputs")
    counts = summary_counts(events)
    _check(counts.get("create", 0) == len(created), f"pulumi up: summary {counts} vs {len(created)} creates")
    client.forget_discovery()
    objects = kubernetes_objects(created)
    missing = [f"{obj['kind']} {obj['metadata'].get('name')}" for obj in objects if not exists(client, obj)]
    _check(not missing, f"created but not in the API server: {missing}")
    return created


def check_ordering(created: list[Step], client: ApiClient, results: Results) -> None:
    """b. templates finished (Gatekeeper reported the CRD created) before their constraints
    started; each custom resource's CRD older than it; every constraint and ExpansionTemplate
    finished before the workload started."""
    templates = {
        str(step.outputs["spec"]["crd"]["spec"]["names"]["kind"]): step
        for step in created
        if step.type == _TEMPLATE_TYPE
    }
    constraints = [step for step in created if str(step.outputs.get("apiVersion", "")).startswith(_CONSTRAINT_GROUP)]
    pairs = [(templates.get(str(step.outputs["kind"])), step) for step in constraints]
    held = sum(1 for template, constraint in pairs if template and finished_before_started(template, constraint))
    created_status = sum(1 for step in templates.values() if (step.outputs.get("status") or {}).get("created") is True)
    _check(held == len(pairs) > 0, f"templates before constraints: {held}/{len(pairs)}")
    _check(created_status == len(templates), f"templates reported created: {created_status}/{len(templates)}")
    results.ordering["templates->constraints"] = (held, len(pairs))

    crds = {
        (crd["spec"]["group"], crd["spec"]["names"]["kind"]): crd
        for crd in client.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
    }
    custom = [(crds[_group_kind(step.outputs)], step) for step in created if _group_kind(step.outputs) in crds]
    older = sum(1 for crd, step in custom if _not_newer(crd, client, step.outputs))
    _check(older == len(custom) > 0, f"CRDs before custom resources: {older}/{len(custom)}")
    results.ordering["CRDs->custom resources"] = (older, len(custom))

    workloads = [step for step in created if step.type == _DEPLOYMENT_TYPE]
    admission = [*constraints, *(step for step in created if step.type == _EXPANSION_TYPE)]
    pairs_w = [(gate, workload) for workload in workloads for gate in admission]
    held_w = sum(1 for gate, workload in pairs_w if finished_before_started(gate, workload))
    _check(held_w == len(pairs_w) > 0, f"admission before the workload: {held_w}/{len(pairs_w)}")
    results.ordering["admission->workload"] = (held_w, len(pairs_w))


def _group_kind(obj: Any) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))


def _not_newer(crd: dict[str, Any], client: ApiClient, obj: Any) -> bool:
    """The CRD was created no later than the custom resource (the API server's timestamps)."""
    _, path = client.paths(obj)
    live = client.get(path)
    return str(crd["metadata"]["creationTimestamp"]) <= str(live["metadata"]["creationTimestamp"])


def check_second_preview(pulumi: Pulumi, results: Results) -> None:
    """a. a second preview changes nothing."""
    status, events = preview(pulumi, "preview-2", "--expect-no-changes")
    results.second_preview_changes = changes(events)
    _check(status == 0 and results.second_preview_changes == 0, f"second preview: {summary_counts(events)}")


def check_policy_pack(pulumi: Pulumi, results: Results) -> None:
    """e. the pack runs at preview: a clean preview passes, one adding `privileged: true` fails."""
    pack = str(REPO_ROOT / "policy_pack")
    status, events = preview(pulumi, "preview-pack", "--policy-pack", pack)
    results.clean_violations = len(policy_violations(events))
    _check(status == 0 and results.clean_violations == 0, f"clean preview under the pack: exit {status}")
    status, events = preview(pulumi, "preview-privileged", "--policy-pack", pack, env={PRIVILEGED_ENV: "1"})
    violations = policy_violations(events)
    mandatory = [item for item in violations if item.get("enforcementLevel") == "mandatory"]
    results.privileged_violations = len(mandatory)
    results.privileged_refused = status != 0 and bool(mandatory)
    mentions = [item for item in mandatory if "privileged" in str(item.get("message", "")).lower()]
    _check(results.privileged_refused and bool(mentions), f"privileged preview: exit {status}, {violations}")


def check_digest_change(pulumi: Pulumi, client: ApiClient, settings: StackSettings, results: Results) -> None:
    """a. a new image digest updates the Deployment, and nothing else."""
    repository = settings.model.image.partition("@")[0]
    image = f"{repository}@sha256:{secrets.token_hex(32)}"
    pulumi.run("config", "set", "--path", f"{PROJECT}:model.image", image)
    status, events = preview(pulumi, "preview-digest")
    changed = [step for step in steps(events) if step.op not in ("same", "read")]
    results.digest_changes = [f"{step.type.rpartition(':')[2]} {step.op}" for step in changed]
    _check(
        status == 0 and [(step.type, step.op) for step in changed] == [(_DEPLOYMENT_TYPE, "update")],
        f"digest change: {results.digest_changes}",
    )
    up(pulumi, "up-digest")
    live = client.get(f"/apis/apps/v1/namespaces/{settings.namespace.name}/deployments/{settings.model.name}")
    images = [container["image"] for container in live["spec"]["template"]["spec"]["containers"]]
    _check(image in images, f"the Deployment runs {images}, not {image}")


def check_secret(pulumi: Pulumi, client: ApiClient, marker: str, results: Results) -> None:
    """c. the alert URL: encrypted in state, in the API server only inside a Secret."""
    state_files = sorted((pulumi.root / "backend").rglob(f"{STACK}.json"))
    _check(bool(state_files), "no state file in the file backend")
    text = "".join(path.read_text(encoding="utf-8") for path in state_files)
    results.state_markers = plaintext_count(text, marker)
    results.state_ciphertexts = text.count('"ciphertext"')
    _check(results.state_markers == 0, f"the marker is in plain text in the state {results.state_markers} times")
    _check(results.state_ciphertexts > 0, "the state holds no encrypted value: the secret never reached it")
    stack_file = (pulumi.project / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    _check(marker not in stack_file, "the marker is in plain text in the stack file")
    objects = list_all_objects(client)
    results.scanned_objects = len(objects)
    results.marker_in_secrets, results.marker_elsewhere = holders(objects, marker)
    _check(not results.marker_elsewhere, f"the marker is in plain text in {results.marker_elsewhere}")
    _check(len(results.marker_in_secrets) == 1, f"Secrets holding the URL: {results.marker_in_secrets}")


def exported_resources(pulumi: Pulumi) -> list[dict[str, Any]]:
    """The resources of the stack's state (`pulumi stack export`; secrets stay encrypted)."""
    return list(json.loads(pulumi.run("stack", "export").stdout)["deployment"]["resources"])


def check_destroy(pulumi: Pulumi, state: SandboxState, results: Results) -> None:
    """d. `pulumi destroy` of the production stack fails: the engine refuses every protected
    resource it reaches, and every protected resource stays, in the state and in the API server."""
    resources = exported_resources(pulumi)
    protected = [item for item in resources if item.get("protect")]
    results.protected = len(protected)
    _check(results.protected > 0, "the production stack protects nothing")
    objects = [item["outputs"] for item in resources if (item.get("outputs") or {}).get("kind")]
    client = admin_client(state)
    client.forget_discovery()
    collector = ForegroundDeletion(admin_client(state), objects)
    collector.start()
    try:
        log = _log(pulumi, "destroy")
        result = pulumi.run("destroy", "--yes", "--skip-preview", "--event-log", str(log), check=False)
    finally:
        collector.stop()
    refused = refused_deletes(read_events(log))
    results.destroy_refused = result.returncode != 0 and bool(refused)
    results.refused_deletes = len(refused)
    _check(refused <= {item["urn"] for item in protected}, f"refused deletes of unprotected resources: {refused}")
    remaining = {item["urn"] for item in exported_resources(pulumi) if item.get("protect")}
    kept = [item for item in protected if item["urn"] in remaining]
    live = [item for item in kept if not (item.get("outputs") or {}).get("kind") or exists(client, item["outputs"])]
    results.protected_kept = len(live)
    _check(results.destroy_refused, f"pulumi destroy was not refused (exit {result.returncode})")
    _check(results.protected_kept == results.protected, f"protected kept {results.protected_kept}/{results.protected}")


def check_upgrade(root: Path, results: Results) -> None:
    """f. a stack created by the program of `UPGRADE_FROM` (its tree and its prod stack file), in
    a sandbox of its own: the current program's preview, then its `up`, replace and delete
    nothing and create only the ModelTenant component (the engine's steps)."""
    tree = export_tree(UPGRADE_FROM, root / "tree")
    sandbox_root = root / "sandbox"
    config = e2e_stack_config(production_config(tree), sandbox_root / "kubeconfig")
    with_secret = {**config, f"{PROJECT}:alertUrl": {"secure": "placeholder"}}
    state = start_sandbox(rendered_objects(STACK, with_secret)[0], settings_of(with_secret), sandbox_root)
    try:
        before = Pulumi(write_project(root / "project", REPO_ROOT / ".venv"), root, state.kubeconfig, source=tree)
        init_stack(before, config, f"https://hooks.example.com/services/upgrade-{secrets.token_hex(8)}")
        with _timed(f"upgrade: pulumi up of {UPGRADE_FROM[:7]}"):
            old = [step for step in steps(up(before, "upgrade-before")) if step.op != "same"]
        current = dataclasses.replace(before, source=REPO_ROOT)
        with _timed("upgrade: preview and up of the current program"):
            status, events = preview(current, "upgrade-preview")
            verdict = judge_upgrade(steps(events))
            _check(status == 0, f"upgrade preview failed (exit {status})")
            _check(verdict.safe, f"{verdict.line(UPGRADE_FROM)}; the engine would:\n{verdict.problems()}")
            applied = judge_upgrade(steps(up(current, "upgrade-up")))
        _check(applied.safe, f"upgrade up: {applied.line(UPGRADE_FROM)}:\n{applied.problems()}")
        _check(
            (applied.created, applied.same) == (verdict.created, verdict.same),
            f"upgrade up did not do what its preview showed: {applied.line(UPGRADE_FROM)}",
        )
        _check(verdict.same + len(verdict.updated) == len(old) > 0, f"upgrade: {len(old)} old resources")
        results.upgrade = applied
    finally:
        state.stop()


def check_split(root: Path, results: Results) -> None:
    """g. split ownership, in a sandbox of its own: the platform stack's `up` creates no tenant
    object; a tenant stack that sets a platform key fails its preview with the settings error
    naming the key, before any resource; the tenant stack's `up` reads `platformConfig` through
    its StackReference and creates its namespace, workload and its own cluster-wide admission
    objects on the platform's templates."""
    sandbox_root = root / "sandbox"
    platform = platform_stack_config(sandbox_root / "kubeconfig")
    tenant = tenant_stack_config(sandbox_root / "kubeconfig")
    namespace, model = str(tenant[f"{PROJECT}:namespace"]["name"]), str(tenant[f"{PROJECT}:model"]["name"])
    platform_objects, outputs = rendered_objects(PLATFORM_STACK, platform)
    tenant_objects_rendered, _ = rendered_objects(TENANT_STACK, tenant, outputs)
    objects = [*platform_objects, *tenant_objects_rendered]
    state = start_sandbox(objects, settings_of(platform), sandbox_root, PLATFORM_STACK)
    try:
        client = admin_client(state)
        pulumi = Pulumi(write_project(root / "project", REPO_ROOT / ".venv"), root, state.kubeconfig)
        new_stack(pulumi, PLATFORM_STACK, platform)
        with _timed("split: pulumi up of the platform stack"):
            created = created_in_cluster(up(pulumi, "split-platform", "--stack", PLATFORM_STACK), client)
        held = tenant_objects(kubernetes_objects(created), registered_namespaces(platform))
        _check(not held, f"the platform stack holds tenant objects: {held}")
        namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        _check(not exists(client, namespace_object), f"{namespace} exists before its tenant stack's up")
        exported = json.loads(pulumi.run("stack", "output", "--json", "--stack", PLATFORM_STACK).stdout)
        _check(isinstance(exported.get(PLATFORM_OUTPUT), str), f"the platform exports {sorted(exported)}")
        results.split_platform_created = len(created)

        new_stack(pulumi, TENANT_STACK, tenant)
        pulumi.run("config", "set", "--path", f"{PROJECT}:{REFUSED_KEY}.replicas", "1", "--stack", TENANT_STACK)
        with _timed(f"split: preview of the tenant stack with {REFUSED_KEY} set"):
            status, events = preview(pulumi, "split-refused", "--stack", TENANT_STACK)
        output = pulumi.log[-1]
        started = [step.type for step in steps(events) if step.type != "pulumi:pulumi:Stack"]
        results.split_refused = status != 0 and refusal_names(output, REFUSED_KEY) and not started
        _check(results.split_refused, f"tenant preview with {REFUSED_KEY}: exit {status}, steps {started}:\n{output}")
        pulumi.run("config", "rm", f"{PROJECT}:{REFUSED_KEY}", "--stack", TENANT_STACK)

        with _timed("split: pulumi up of the tenant stack"):
            events = up(pulumi, "split-tenant", "--stack", TENANT_STACK)
            created = created_in_cluster(events, client)
        read = [step for step in steps(events) if step.type == _STACK_REFERENCE_TYPE]
        _check(
            any(PLATFORM_OUTPUT in (step.outputs.get("outputs") or {}) for step in read),
            f"the tenant's StackReference did not read {PLATFORM_OUTPUT}: {[step.outputs for step in read]}",
        )
        live = kubernetes_objects(created)  # each one found in the API server by created_in_cluster
        expected = {
            ("Namespace", namespace),
            ("Deployment", model),
            ("K8sDenyModelPodWidening", f"deny-model-pod-widening-{namespace}"),
            ("ClusterImagePolicy", f"model-images-signed-{namespace}"),
        }
        missing = expected - {(obj["kind"], obj["metadata"]["name"]) for obj in live}
        _check(not missing, f"the tenant stack's up did not create {sorted(missing)}")
        results.split_tenant_created = len(created)
        results.split_tenant_objects = sum(1 for obj in live if obj["metadata"].get("namespace") == namespace)
        results.split_namespace = namespace
    finally:
        state.stop()


# --- the run -----------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"e2e-pulumi: {message}", flush=True)


@contextmanager
def _timed(what: str) -> Iterator[None]:
    """Say how long `what` took (the README's measured times come from these lines)."""
    started = time.monotonic()
    _say(what)
    yield
    _say(f"{what}: {time.monotonic() - started:.0f}s")


def main() -> int:
    """Run the tier; print the summary line last. Exit status 1 when a check fails."""
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="sms-e2e-pulumi-"))
    results = Results()
    marker = f"marker-{secrets.token_hex(12)}"
    state: SandboxState | None = None
    pulumi: Pulumi | None = None
    status = 0
    try:
        with _timed("the upgrade step (its own sandbox, two ups, a preview)"):
            check_upgrade(root / "upgrade", results)
        sandbox_root = root / "sandbox"
        kubeconfig = sandbox_root / "kubeconfig"
        config = e2e_stack_config(production_config(), kubeconfig)
        # As the renderer sees the stack once the secret is set: a `secure:` value it cannot read.
        with_secret = {**config, f"{PROJECT}:alertUrl": {"secure": "placeholder"}}
        settings = settings_of(with_secret)
        with _timed("sandbox up"):
            state = start_sandbox(rendered_objects(STACK, with_secret)[0], settings, sandbox_root)
        client = admin_client(state)
        pulumi = Pulumi(write_project(root / "project", REPO_ROOT / ".venv"), root, state.kubeconfig)
        init_stack(pulumi, config, f"https://hooks.example.com/services/{marker}")
        with _timed("pulumi up"):
            created = check_up(up(pulumi, "up"), client, results)
        check_ordering(created, client, results)
        with _timed("second preview"):
            check_second_preview(pulumi, results)
        with _timed("the policy pack's two previews"):
            check_policy_pack(pulumi, results)
        with _timed("image digest change (preview and up)"):
            check_digest_change(pulumi, client, settings, results)
        check_secret(pulumi, client, marker, results)
        with _timed("pulumi destroy of the protected stack"):
            check_destroy(pulumi, state, results)
        state.stop()
        state = None
        with _timed("the split step (its own sandbox, a platform and a tenant stack)"):
            check_split(root / "split", results)
    except (CheckFailedError, RuntimeError, OSError, ValueError) as error:
        status = 1
        print(f"e2e-pulumi: FAILED: {error}", flush=True)
        if pulumi is not None and pulumi.log:
            print(pulumi.log[-1][-4000:], flush=True)
    finally:
        if state is not None:
            state.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"e2e-pulumi: {time.monotonic() - started:.0f}s wall time")
    print(results.summary())
    return status
