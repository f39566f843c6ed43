"""The Pulumi program, shared by `__main__.py` (real engine) and `tools.render` (mock engine).

Settings are read and validated first, so a bad stack file fails before any resource exists.
"""

from __future__ import annotations

import pulumi

from components.platform import SecureModelPlatform
from components.settings import load_settings

__all__ = ["run"]


def run() -> SecureModelPlatform:
    """Build the platform for the current stack and export its outputs."""
    settings = load_settings()
    platform = SecureModelPlatform("platform", settings)
    pulumi.export("environment", settings.environment.value)
    pulumi.export("namespace", platform.namespace)
    pulumi.export("serviceAccount", platform.service_account)
    pulumi.export("serviceAddress", platform.service_address)
    return platform
