"""The project's stacks as the tests read them: their names, their config, parsed as the program
parses it, and the upstream CRD schemas folder."""

from __future__ import annotations

from typing import Any

import yaml

from components.settings import StackSettings, parse_settings
from tools.mock_engine import PROJECT, cli_config
from tools.render import stack_file
from tools.sandbox.stack import crd_folder

__all__ = ["SHARED_CRDS", "STACKS", "parse", "stack_config"]

STACKS = ("dev", "staging", "prod")
"""Every stack file under stacks/, least strict first."""
SHARED_CRDS = crd_folder()
"""The upstream CRD schemas (../shared/crds beside the checkout, or SMS_CRDS_DIR)."""


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` mapping of stacks/Pulumi.<stack>.yaml."""
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def parse(config: dict[str, Any]) -> StackSettings:
    """Parse as the program does: through the CLI's string encoding."""
    return parse_settings(cli_config(config)[0], namespace=PROJECT)
