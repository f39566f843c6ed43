"""The project's stacks as the tests read them: their names, their config, parsed as the program
parses it, and the upstream CRD schemas folder."""

from __future__ import annotations

from typing import Any

import yaml

from secure_model_serving.settings import StackSettings, parse_settings
from tools.mock_engine import PROJECT, cli_config
from tools.render import stack_file
from tools.sandbox.stack import crd_folder

__all__ = [
    "EC_PUBLIC_KEY",
    "PRODUCTION_STACKS",
    "SHARED_CRDS",
    "STACKS",
    "parse",
    "stack_config",
    "stack_environment",
]

STACKS = ("dev", "staging", "prod", "shared")
"""The stack files rendered on their own, least strict first: the three environments, and `shared`
(a production cluster of three model tenants). The split pair shared-platform and shared-churn
renders together (tests/components/test_split.py)."""
SHARED_CRDS = crd_folder()
"""The upstream CRD schemas (../shared/crds beside the checkout, or SMS_CRDS_DIR)."""


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` mapping of stacks/Pulumi.<stack>.yaml."""
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def stack_environment(stack: str) -> str:
    """The `environment` a stack file sets."""
    return stack_config(stack)[f"{PROJECT}:environment"]


def parse(config: dict[str, Any]) -> StackSettings:
    """Parse as the program does: through the CLI's string encoding."""
    return parse_settings(cli_config(config)[0], namespace=PROJECT)


PRODUCTION_STACKS = tuple(stack for stack in STACKS if stack_environment(stack) == "prod")
"""The stacks whose environment is prod (protected, retained)."""


EC_PUBLIC_KEY: str = stack_config("prod")[f"{PROJECT}:model"]["signingPublicKey"]
"""A real elliptic-curve public key in PEM (the prod stack's model-signing key), for Args that check one."""
