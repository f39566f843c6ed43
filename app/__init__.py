"""Hardened fraud-detection model server.

Sub-modules are imported explicitly by their users; this package keeps no
import-time side effects so that ``app.config`` (the deployment contract) can be
imported by the infrastructure code without pulling in Flask or scikit-learn.
"""

from __future__ import annotations
