"""The security posture of a render, and what weakens it between two renders.

`python -m tools.render diff OLD NEW` reads each render directory as a whole (every object and
every Helm release record, see `tools.posture.render`) and asks, area by area, what protects the
model namespaces before and after: admission, pod hardening, identity, network, mesh security,
edge TLS, image and model signing, secrets, runtime detection, namespace labels and quotas (one
module each under `tools.posture.areas`). A protection that is deleted, loosened or narrowed is a
weakening; a stricter or unrelated change is not.

Every kind and every Helm chart a render holds must be claimed by an area or named neutral in
`tools.posture.coverage`; anything else that changes is reported as a weakening the diff cannot
judge, so a new kind of protection cannot slip past a diff that was never taught about it.
"""

from __future__ import annotations

from tools.posture.coverage import unclassified
from tools.posture.engine import weakenings
from tools.posture.findings import Finding
from tools.posture.render import ObjectKey, Render, read_render

__all__ = ["Finding", "ObjectKey", "Render", "read_render", "unclassified", "weakenings"]
