"""The shape of the `call_main` fixture (tests/conftest.py), for annotating tests that use it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

__all__ = ["CallMain"]

CallMain = Callable[..., subprocess.CompletedProcess[str]]
"""Runs a CLI: `(main, *arguments)`; the result is shaped like `subprocess.run`'s."""
