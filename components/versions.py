"""Every pinned version the platform deploys, in one place.

Bump a version here and nowhere else; the renderer and the tests read the same constants.
"""

from __future__ import annotations

__all__ = ["POD_SECURITY_LEVEL"]

POD_SECURITY_LEVEL = "restricted"
"""Pod Security Standards level enforced, audited and warned on in every model namespace."""
