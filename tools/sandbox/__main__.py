"""`python -m tools.sandbox`: see tools/sandbox/cli.py."""

from __future__ import annotations

import sys

from tools.sandbox.cli import main

sys.exit(main())
