"""The stack model: every section of one stack (environment) together, and the checks across them.

`StackSettings` holds the sections (one module each) and judges what no single section can: one
form of model or tenants, the roles of a split, the add-ons' supported Kubernetes minors, quotas
that hold the peak, namespaces the admission webhook must judge, disjoint registry paths, and the
environment rules (`secure_model_serving.settings.environments`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PrivateAttr, model_validator

from ..cluster.mesh import PROXY_RESOURCES
from ..formats import ImageRef, parse_quantity, registry_allows
from ..naming import CERT_MANAGER_NAMESPACE
from ..serving_vocabulary import Addon, AlertOutput, Environment, Role, SecretProvider
from ..tenant.workload import ROLLOUT_SURGE
from ..versions import (
    CERT_MANAGER_SUPPORT,
    EXTERNAL_SECRETS_SUPPORT,
    FALCO_SUPPORT,
    GATEKEEPER_SUPPORT,
    ISTIO_SUPPORT,
    KUBERNETES_TARGET,
    POLICY_CONTROLLER_SUPPORT,
    Support,
    unsupported,
)
from .admission import AdmissionSettings
from .environments import check_environment
from .mesh import MeshSettings
from .model import ModelSettings
from .namespace import ClusterDns, NamespaceSettings
from .rbac import Rbac
from .runtime import RuntimeSettings
from .secrets import SecretsSettings
from .supply_chain import SupplyChainSettings
from .tenants import TenantModel, TenantRegistration, tenant_key
from .values import (
    KeyedError,
    KubernetesVersion,
    RegistryPrefix,
    SecretHttpsUrl,
    SettingsModel,
)


class StackSettings(SettingsModel):
    """Everything one stack (environment) configures."""

    environment: Environment = Field(
        description=(
            "`dev`, `staging` or `prod`; `prod` requires >= 2 replicas and protects the namespace; "
            "what staging and prod require is the table of environment rules "
            "(secure_model_serving/settings/environments.py)"
        )
    )
    # Which minors are accepted is decided by the add-ons the stack installs (_supported_by_addons).
    kubernetes_version: KubernetesVersion = Field(
        default=KUBERNETES_TARGET,
        alias="kubernetesVersion",
        description=(
            "the cluster's minor version, one that every add-on the stack installs supports (see "
            "[Supported versions](../README.md#supported-versions)); pins the Pod Security Standards "
            "version labels and the schemas the render is checked against"
        ),
    )
    registries: list[RegistryPrefix] = Field(
        min_length=1,
        description=(
            "allowed image registry prefixes (`host[:port][/path]`); matched on whole path segments, "
            "so `registry.example.com/models` does not admit `registry.example.com/models-evil`"
        ),
    )
    # One model (`model` with the top-level namespace, rbac, secrets.items, mesh.callers and
    # supplyChain.imageSigner), or many tenants of a shared cluster (`models`, each entry holding its own).
    model: ModelSettings | None = Field(
        default=None, description="the one model of the stack (the keys below), instead of `models`"
    )
    models: list[TenantModel] | None = Field(
        default=None,
        min_length=1,
        description=(
            "a shared cluster's model tenants, instead of `model`: a list whose entries hold every "
            "key of `model` plus the tenant's own `namespace` (name, quota, containerDefaults: "
            "required), `rbac`, `secrets` (`items`, and optionally its own `vault`/`aws`/`gcp` "
            "identity at the platform's provider), `callers` (its mesh callers), `imageSigner` and "
            "`registries` (within the platform's `registries`, overlapping no other tenant's). Then "
            "`namespace`, `rbac`, `secrets.items`, `mesh.callers` and `supplyChain.imageSigner` are "
            "not set at the top level. Names and namespaces are unique. See [Many model "
            "tenants](tenants.md)"
        ),
    )
    namespace: NamespaceSettings = NamespaceSettings()
    rbac: Rbac = Rbac()
    cluster_dns: ClusterDns = Field(default=ClusterDns(), alias="clusterDns")
    admission: AdmissionSettings = AdmissionSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    secrets: SecretsSettings = SecretsSettings()
    mesh: MeshSettings = MeshSettings()
    # No default: image signature verification is on unless a stack says otherwise, and then
    # it needs to know the signer.
    supply_chain: SupplyChainSettings | None = Field(
        default=None,
        alias="supplyChain",
        description="required: `imageSigner` is, unless `enabled: false` (dev only)",
    )
    # A credential: accepted only as a Pulumi secret (see SECRET_ONLY_KEYS), never rendered.
    alert_url: SecretHttpsUrl | None = Field(
        default=None,
        alias="alertUrl",
        description=(
            "the Slack or webhook URL itself (`https://`), **only as a Pulumi secret** (`pulumi "
            "config set --secret`); written to the Secret `falcosidekick-alert-url` under "
            "`runtime.alerts.secretKey`, kept secret in state, `[secret]` in the render"
        ),
    )
    preinstalled_addons: list[Addon] = Field(
        default_factory=list,
        alias="preinstalledAddons",
        description=(
            "add-ons already running on the cluster (`gatekeeper`, `falco`, `external-secrets`, "
            "`istio`, `policy-controller`, `cert-manager`; each must be one the stack uses; an "
            "adopted cert-manager must carry the DNS-01 identity on its service account itself): the "
            "stack creates neither their Helm release nor their namespace, only its own configuration"
            " of them (templates and constraints, the alert Secret, ClusterImagePolicies, mesh and "
            "secret-store objects). For a shared cluster whose platform installs them, and for the "
            "real `pulumi up` tier. The add-on's own settings (Gatekeeper's failure policy, replicas)"
            " are then the platform's to keep"
        ),
    )
    role: Role = Field(
        default=Role.ALL,
        description=(
            "what the stack builds: `all` (the platform and its models), `platform` (the shared "
            "platform only, for the `tenants` it registers; exports `platformConfig`), or `tenant` "
            "(one `model` on the platform of `platformStack`). See [Many model tenants](tenants.md)"
        ),
    )
    registered_tenants: list[TenantRegistration] | None = Field(
        default=None,
        alias="tenants",
        min_length=1,
        description=(
            "role `platform`: the tenants it admits, each `{namespace, registries, syncsSecrets, "
            "nodePool}` (disjoint registry paths within `registries`; `nodePool` is where Falco must "
            "run too)"
        ),
    )
    platform_stack: (
        Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] | None
    ) = Field(
        default=None,
        alias="platformStack",
        description=(
            "role `tenant`: the platform's stack as `org/project/stack`; the tenant stack sets only "
            "`model`, `namespace`, `rbac`, `registries`, `secrets.items` (and its own store "
            "identity), `mesh.callers` and `supplyChain.imageSigner`, every other setting is read "
            "from the platform"
        ),
    )
    _in_model_list: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _cross_checks(self) -> StackSettings:
        if self.supply_chain is None:
            raise KeyedError(
                "supplyChain.imageSigner",
                "is required (image signatures are verified unless supplyChain.enabled: false)",
            )
        self._one_form()
        self._supported_by_addons()
        if self.role is Role.PLATFORM:
            self._registrations_apart()
        elif self.models is None:
            self._tenant_checks()
            if self.role is Role.TENANT:
                self._registered_by_the_platform()
        else:
            self._tenants_apart()
        check_environment(self, per_model=False)
        if self.role is not Role.TENANT:
            # The alert URL, a secret, stays in the platform stack (not in its platformConfig).
            self._alerts_have_one_url_source()
        self._preinstalled_addons_are_used()
        self._gateway_names_a_model()
        return self

    def _one_form(self) -> None:
        """`model` or `models` (neither for a platform stack), and in the list form nothing of a
        tenant left at the top level."""
        self._role_keys()
        if self.role is Role.PLATFORM:
            for key, present in (("model", self.model is not None), ("models", self.models is not None)):
                if present:
                    raise KeyedError(key, "a platform stack runs no model: each tenant stack adds its own")
            return
        if self.role is Role.TENANT and self.models is not None:
            raise KeyedError("models", "a tenant stack holds one model: set model")
        if (self.model is None) == (self.models is None):
            raise KeyedError("models", "set exactly one of model (one model) or models (a list of tenants)")
        if self.models is None:
            return
        assert self.supply_chain is not None  # checked first in _cross_checks
        misplaced = {
            "namespace": "namespace" in self.model_fields_set,
            "rbac": "rbac" in self.model_fields_set,
            "secrets.items": bool(self.secrets.items),
            "mesh.callers": bool(self.mesh.callers),
            "supplyChain.imageSigner": self.supply_chain.image_signer is not None,
        }
        for key, present in misplaced.items():
            if present:
                raise KeyedError(key, "belongs to each entry of models (set it there, per model)")

    def _role_keys(self) -> None:
        """The keys of a split belong to their role; the edge gateway is not split yet."""
        # A tenant stack carries its platform's registrations (read from the platform stack).
        if self.role is Role.ALL and self.registered_tenants is not None:
            raise KeyedError("tenants", "registers tenants for role platform only (a stack of role all has models)")
        if self.role is Role.PLATFORM and self.registered_tenants is None:
            raise KeyedError("tenants", "a platform stack registers its tenants: each namespace and registry path")
        if (self.platform_stack is None) == (self.role is Role.TENANT):
            raise KeyedError("platformStack", "is required with role tenant, and only there")
        if self.role is not Role.ALL and self.mesh.enabled and self.mesh.gateway.enabled:
            raise KeyedError(
                "mesh.gateway.enabled",
                "the edge gateway (cert-manager, the gateway and the model's route) is built by a stack of role all "
                "only; turn it off in a split platform",
            )

    def registrations(self) -> list[TenantRegistration]:
        """The tenants the platform serves: registered by a platform stack, or the stack's own models."""
        if self.role is Role.PLATFORM:
            assert self.registered_tenants is not None  # checked in _role_keys
            return list(self.registered_tenants)
        return [
            TenantRegistration.model_construct(
                namespace=tenant.namespace.name,
                registries=list(tenant.registries),
                syncs_secrets=bool(tenant.secrets.items),
                node_pool=tenant.tenant.node_pool,
            )
            for tenant in self.tenants()
        ]

    def _registrations_apart(self) -> None:
        """A platform stack's registrations: judged namespaces, disjoint paths within its registries."""
        seen: dict[str, int] = {}
        claimed: list[tuple[str, int]] = []
        for index, registration in enumerate(self.registrations()):
            name = registration.namespace
            if name in seen:
                raise KeyedError(f"tenants[{index}].namespace", f"{name} is already tenants[{seen[name]}]'s")
            seen[name] = index
            self._namespace_is_judged(name, f"tenants[{index}].namespace")
            self._paths_apart(f"tenants[{index}]", index, registration.registries, claimed, "tenants")
            claimed += [(prefix, index) for prefix in registration.registries]

    def _registered_by_the_platform(self) -> None:
        """A tenant stack's namespace and registries are the ones its platform registered for it, and
        its node pool one the platform's Falco runs on."""
        found = [r for r in self.registered_tenants or () if r.namespace == self.namespace.name]
        if not found:
            raise KeyedError(
                "namespace.name", f"{self.namespace.name} is not registered by the platform stack {self.platform_stack}"
            )
        (registration,) = found
        for position, prefix in enumerate(self.registries):
            if not any(_within(allowed, prefix) for allowed in registration.registries):
                raise KeyedError(
                    f"registries[{position}]",
                    f"{prefix} is not within the paths the platform registered for {self.namespace.name}: "
                    f"{registration.registries}",
                )
        pool = self.tenant.node_pool
        watched = registration.node_pool.tolerations if registration.node_pool else []
        for toleration in pool.tolerations if pool else []:
            if toleration not in watched:
                raise KeyedError(
                    "model.nodePool.tolerations",
                    "a taint the platform's Falco does not tolerate: register the node pool with the tenant",
                )

    @property
    def in_model_list(self) -> bool:
        """True for the view of one entry of `models`, and for a tenant stack: its cluster-wide objects
        carry its namespace in their names (a stack of one `model` keeps the names it always had)."""
        return self._in_model_list or self.role is Role.TENANT

    def tenants(self) -> list[StackSettings]:
        """Each model tenant as a one-model view of these settings: the tenant's own model,
        namespace, RBAC, secrets, callers, signer and registries over the shared platform settings.
        The single `model` form is its own one tenant."""
        if self.role is Role.PLATFORM:
            return []
        if self.models is None:
            return [self]
        assert self.supply_chain is not None  # checked first in _cross_checks
        views = [
            self.model_copy(
                update={
                    "model": entry.model_settings(),
                    "models": None,
                    "namespace": entry.namespace,
                    "rbac": entry.rbac,
                    "registries": entry.registries,
                    "secrets": self.secrets.model_copy(
                        update={
                            "items": entry.secrets.items,
                            **{
                                provider.value: getattr(entry.secrets, provider.value)
                                for provider in SecretProvider
                                if getattr(entry.secrets, provider.value) is not None
                            },
                        }
                    ),
                    "mesh": self.mesh.model_copy(update={"callers": entry.callers}),
                    "supply_chain": self.supply_chain.model_copy(update={"image_signer": entry.image_signer}),
                }
            )
            for entry in self.models
        ]
        for view in views:
            view._in_model_list = True
        return views

    @property
    def tenant(self) -> ModelSettings:
        """The model of a one-model view (see tenants())."""
        if self.model is None:
            raise ValueError("a stack with models: has one view per tenant; use tenants()")
        return self.model

    def _tenant_checks(self) -> None:
        """What must hold for each model: its image, replicas, quota, signer, a judged namespace."""
        assert self.supply_chain is not None and self.model is not None
        if self.supply_chain.enabled and self.supply_chain.image_signer is None:
            raise KeyedError("supplyChain.imageSigner", "is required while supplyChain is enabled")
        self._model_namespace_is_judged()
        repository = ImageRef.parse(self.model.image).repository
        if not any(registry_allows(prefix, repository) for prefix in self.registries):
            raise KeyedError("model.image", f"{repository} is not under any allowed registry {self.registries}")
        check_environment(self, per_model=True)
        self._quota_holds_the_peak()
        if self.secrets.items and self.namespace.quota.secrets < len(self.secrets.items):
            raise KeyedError("namespace.quota.secrets", "the quota is below the number of secrets.items")
        # A tenant's own store identity is a section of the platform's provider, never another's
        # (it would be silently unused).
        for provider in SecretProvider:
            if provider is not self.secrets.provider and getattr(self.secrets, provider.value) is not None:
                chosen = self.secrets.provider.value if self.secrets.provider else "none"
                raise KeyedError(
                    f"secrets.{provider.value}",
                    f"the platform's secrets.provider is {chosen}: set only the section of that provider",
                )

    def _tenants_apart(self) -> None:
        """Each tenant checked as its own model, and no two sharing a name, a namespace or a registry
        path (a signer trusted for one tenant's path would sign for another's), every tenant's
        registries within the platform's allow-list."""
        assert self.models is not None
        seen: dict[str, dict[str, int]] = {"name": {}, "namespace": {}}
        claimed: list[tuple[str, int]] = []
        for index, (entry, view) in enumerate(zip(self.models, self.tenants(), strict=True)):
            try:
                view._tenant_checks()
            except KeyedError as error:
                raise KeyedError(tenant_key(error.key, index), str(error)) from None
            for what, value in (("name", entry.name), ("namespace", entry.namespace.name)):
                if value in seen[what]:
                    key = "name" if what == "name" else "namespace.name"
                    raise KeyedError(f"models[{index}].{key}", f"{value} is already models[{seen[what][value]}]'s")
                seen[what][value] = index
            self._paths_apart(f"models[{index}]", index, entry.registries, claimed, "models")
            claimed += [(prefix, index) for prefix in entry.registries]

    def _paths_apart(
        self, key: str, index: int, registries: list[str], claimed: list[tuple[str, int]], listing: str
    ) -> None:
        """One tenant's registry paths: within the platform's allow-list, overlapping no other tenant's."""
        for position, prefix in enumerate(registries):
            if not any(_within(allowed, prefix) for allowed in self.registries):
                raise KeyedError(
                    f"{key}.registries[{position}]",
                    f"{prefix} is not within the platform's registries {self.registries}",
                )
            for other, owner in claimed:
                if owner != index and (_within(other, prefix) or _within(prefix, other)):
                    raise KeyedError(
                        f"{key}.registries[{position}]",
                        f"{prefix} overlaps {listing}[{owner}]'s {other}: each tenant's signer is trusted for "
                        "its own registry paths only",
                    )

    @property
    def gateway_model(self) -> str | None:
        """The model the edge gateway routes to (None without a gateway)."""
        gateway = self.mesh.gateway
        if not (self.mesh.enabled and gateway.enabled):
            return None
        if gateway.model is not None:
            return gateway.model
        names = [tenant.tenant.name for tenant in self.tenants()]
        return names[0] if len(names) == 1 else None

    def _gateway_names_a_model(self) -> None:
        gateway = self.mesh.gateway
        if not (self.mesh.enabled and gateway.enabled):
            return
        names = [tenant.tenant.name for tenant in self.tenants()]
        if gateway.model is None and len(names) > 1:
            raise KeyedError("mesh.gateway.model", f"name the model the gateway routes to, one of {names}")
        if gateway.model is not None and gateway.model not in names:
            raise KeyedError("mesh.gateway.model", f"{gateway.model} is not a model of this stack ({names})")

    def preinstalled(self, addon: Addon) -> bool:
        """True when `addon` already runs on the cluster and the stack does not install it."""
        return addon in self.preinstalled_addons

    def _preinstalled_addons_are_used(self) -> None:
        """Each listed add-on must be one the stack uses: a stale entry would hide a mistake."""
        assert self.supply_chain is not None  # checked first in _cross_checks
        used = {
            Addon.GATEKEEPER: True,
            Addon.FALCO: self.runtime.enabled,
            Addon.EXTERNAL_SECRETS: self.secrets.provider is not None,
            Addon.ISTIO: self.mesh.enabled,
            Addon.POLICY_CONTROLLER: self.supply_chain.enabled,
            Addon.CERT_MANAGER: self.mesh.enabled and self.mesh.gateway.enabled,
        }
        for index, addon in enumerate(self.preinstalled_addons):
            if not used[addon]:
                raise KeyedError(f"preinstalledAddons[{index}]", f"{addon.value} is not used by this stack")
            if addon in self.preinstalled_addons[:index]:
                raise KeyedError(f"preinstalledAddons[{index}]", f"{addon.value} is listed twice")

    def peak_pods(self) -> int:
        """Model pods at once at worst: the autoscaler's maximum (or the replicas) plus a rollout's surge."""
        autoscaling = self.tenant.autoscaling
        return (autoscaling.max_replicas if autoscaling.enabled else self.tenant.replicas) + ROLLOUT_SURGE

    def pod_resources(self, kind: str) -> dict[str, Decimal]:
        """What one model pod requests (`kind` requests) or may use (limits): the model container,
        and the injected sidecar, whose ephemeral storage the namespace's LimitRange defaults."""
        model = getattr(self.tenant.resources, kind).as_kubernetes()
        total = {name: parse_quantity(value) for name, value in model.items()}
        if self.mesh.enabled:
            defaults = self.namespace.container_defaults
            fallback = (defaults.default_request if kind == "requests" else defaults.default_limit).as_kubernetes()
            sidecar = {**fallback, **PROXY_RESOURCES[kind]}
            total = {name: total[name] + parse_quantity(sidecar[name]) for name in total}
        return total

    def _quota_holds_the_peak(self) -> None:
        """The namespace quota must fit the peak: otherwise scale-out and rollouts stall unseen."""
        quota = self.namespace.quota
        peak = self.peak_pods()
        why = (
            f"{peak} model pods at once (the autoscaler's maximum or model.replicas, plus {ROLLOUT_SURGE} "
            "rollout surge), each with its sidecar"
        )
        if quota.pods < peak:
            raise KeyedError("namespace.quota.pods", f"{quota.pods} cannot hold {why}")
        for kind in ("requests", "limits"):
            allowed = getattr(quota, kind).as_kubernetes()
            for name, per_pod in self.pod_resources(kind).items():
                if per_pod * peak > parse_quantity(allowed[name]):
                    raise KeyedError(
                        f"namespace.quota.{kind}",
                        f"{name} {allowed[name]} cannot hold {why}: they need {per_pod * peak:f} "
                        f"({per_pod:f} each); raise the quota or lower model.autoscaling.maxReplicas",
                    )

    def webhook_exempt_namespaces(self) -> dict[str, str]:
        """Every namespace the admission webhook skips, by the setting that names it: the DNS
        namespace, the add-ons' namespaces (an admission outage must not stop them) and the
        explicit exemptions."""
        found = {"clusterDns.namespace": self.cluster_dns.namespace, "admission.namespace": self.admission.namespace}
        found |= {f"admission.exemptNamespaces[{i}]": name for i, name in enumerate(self.admission.exempt_namespaces)}
        if self.runtime.enabled:
            found["runtime.namespace"] = self.runtime.namespace
        if self.secrets.provider is not None:
            found["secrets.namespace"] = self.secrets.namespace
        if self.mesh.enabled:
            found |= {"mesh.namespace": self.mesh.namespace, "mesh.cniNamespace": self.mesh.cni_namespace}
            if self.mesh.gateway.enabled:
                found |= {"mesh.gateway.namespace": self.mesh.gateway.namespace, "cert-manager": CERT_MANAGER_NAMESPACE}
        if self.supply_chain is not None and self.supply_chain.enabled:
            found["supplyChain.namespace"] = self.supply_chain.namespace
        return found

    def _model_namespace_is_judged(self) -> None:
        """No setting may exempt the model namespace from admission: every constraint would be moot."""
        self._namespace_is_judged(self.namespace.name, "namespace.name")

    def _namespace_is_judged(self, namespace: str, own_key: str) -> None:
        for key, name in self.webhook_exempt_namespaces().items():
            if name == namespace:
                raise KeyedError(
                    key if key != "cert-manager" else own_key,
                    f"{name} is the model namespace; the admission webhook skips this namespace, so no "
                    "constraint would judge the model. Choose another namespace",
                )

    def installed_addons(self) -> list[Support]:
        """Support entries (components.versions) of the add-ons this stack installs."""
        assert self.supply_chain is not None  # checked first in _cross_checks
        candidates = (
            (GATEKEEPER_SUPPORT, True),
            (FALCO_SUPPORT, self.runtime.enabled),
            (EXTERNAL_SECRETS_SUPPORT, self.secrets.provider is not None),
            (ISTIO_SUPPORT, self.mesh.enabled),
            (CERT_MANAGER_SUPPORT, self.mesh.enabled and self.mesh.gateway.enabled),
            (POLICY_CONTROLLER_SUPPORT, self.supply_chain.enabled),
        )
        return [entry for entry, installed in candidates if installed]

    def _supported_by_addons(self) -> None:
        """The cluster's minor must be one that every installed add-on's upstream declares supported."""
        refusing = unsupported(self.kubernetes_version, self.installed_addons())
        if refusing:
            ranges = "; ".join(f"{entry.label} supports Kubernetes {entry.kubernetes}" for entry in refusing)
            raise KeyedError("kubernetesVersion", f"{self.kubernetes_version} is not supported: {ranges}")

    def _alerts_have_one_url_source(self) -> None:
        """An alert output needs its URL from exactly one place; a URL without an output is a mistake."""
        alerts = self.runtime.alerts
        if alerts.output is AlertOutput.NONE:
            if self.alert_url is not None:
                raise KeyedError("alertUrl", "is set but runtime.alerts.output is none (set slack or webhook)")
            return
        if alerts.secret_name is None and self.alert_url is None:
            raise KeyedError(
                "runtime.alerts.secretName",
                f"output {alerts.output.value} needs its URL: the name of an existing Secret in Falco's "
                "namespace, or the alertUrl Pulumi secret",
            )
        if alerts.secret_name is not None and self.alert_url is not None:
            raise KeyedError("alertUrl", "set either alertUrl or runtime.alerts.secretName, not both")

    @property
    def pod_security_version(self) -> str:
        """Pinned Pod Security Standards version, matching the cluster's minor version."""
        return f"v{self.kubernetes_version}"


def _within(prefix: str, other: str) -> bool:
    """True when registry path `other` is `prefix` or lies below it."""
    return other == prefix or registry_allows(prefix, other)
