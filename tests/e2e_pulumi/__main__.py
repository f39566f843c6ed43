"""`python -m tests.e2e_pulumi`: the real `pulumi up` tier; its summary line is printed last."""

from __future__ import annotations

import atexit
import sys

from tests.e2e_pulumi.run import main
from tools.sandbox.processes import stop_children

if __name__ == "__main__":
    atexit.register(stop_children)
    sys.exit(main())
