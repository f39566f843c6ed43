"""Hardened fraud-detection model server.

Sub-modules are imported explicitly by their users; this package keeps no
import-time side effects.  What the platform must agree on with the image (its
environment variables, port, user, paths) is not here but in the top-level
``serving_contract`` module, which the image ships beside this package and the
components import too.
"""

from __future__ import annotations
