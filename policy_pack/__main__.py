"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policy_pack`.

The CLI runs this file as its own program from policy_pack/, with the pack's own virtualenv
(see requirements.txt), so the repository's packages (secure_model_serving/policies/, tools/, and this folder as
`policy_pack`) are not importable yet: the repository root, one folder up, is put on sys.path
first. Serving starts the analyzer's gRPC server, so it happens here and nowhere else.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy_pack.adapter import serve

serve()
