"""The Pulumi program, shared by `__main__.py` (real engine) and `tools.render` (mock engine).

Settings are read and validated first, so a bad stack file fails before any resource exists. The
stack's role decides what is built: the platform and its tenants (all), the platform alone
(platform: it exports its settings for the tenant stacks), or one tenant on a platform another
stack runs (tenant: program/split.py).
"""

from __future__ import annotations

import pulumi

from ..cluster.platform import SecureModelPlatform
from ..serving_vocabulary import Role
from ..settings import load_settings, raw_pulumi_config
from ..tenant.model_tenant import ModelTenant
from .platform import platform_args
from .split import PLATFORM_OUTPUT, platform_config, with_platform_config
from .tenant import tenant_args

__all__ = ["run"]


def run() -> SecureModelPlatform | ModelTenant:
    """Build the current stack's part and export its outputs."""
    settings = load_settings(prepare=with_platform_config)
    pulumi.export("environment", settings.environment.value)
    if settings.role is Role.TENANT:
        tenant = ModelTenant(settings.tenant.name, tenant_args(settings))
        _export_model(tenant.namespace, tenant.service_account, tenant.service_address)
        return tenant
    platform = SecureModelPlatform("platform", platform_args(settings))
    if settings.role is Role.PLATFORM:
        pulumi.export(PLATFORM_OUTPUT, platform_config(raw_pulumi_config(), pulumi.get_project()))
    else:
        _export_model(platform.namespace, platform.service_account, platform.service_address)
    return platform


def _export_model(namespace: object, service_account: object, service_address: object) -> None:
    pulumi.export("namespace", namespace)
    pulumi.export("serviceAccount", service_account)
    pulumi.export("serviceAddress", service_address)
