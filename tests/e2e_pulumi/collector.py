"""A stand-in for the one job of the garbage collector that `pulumi destroy` needs.

The Kubernetes provider deletes with foreground propagation: the API server marks the object
with the `foregroundDeletion` finalizer, and the garbage collector (in the controller-manager,
which the sandbox does not run) removes the object once its dependents are gone. In the sandbox
nothing creates dependents (no controller makes ReplicaSets or Pods), so for every object being
deleted that finalizer is the only thing left: this thread removes it, as the collector would,
and the deletion completes. Nothing else is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from tools.sandbox.client import ApiClient, ApiError

__all__ = ["FOREGROUND", "ForegroundDeletion", "without_foreground"]

FOREGROUND = "foregroundDeletion"


def without_foreground(live: Mapping[str, Any]) -> list[str] | None:
    """The finalizers to keep when `live` is being deleted and waits on the collector; else None."""
    metadata = live.get("metadata") or {}
    finalizers = list(metadata.get("finalizers") or [])
    if not metadata.get("deletionTimestamp") or FOREGROUND not in finalizers:
        return None
    return [item for item in finalizers if item != FOREGROUND]


class ForegroundDeletion(threading.Thread):
    """While running, completes the foreground deletion of each of `objects` (their API paths)."""

    def __init__(self, client: ApiClient, objects: Sequence[Mapping[str, Any]], interval: float = 0.5) -> None:
        super().__init__(name="foreground-deletion", daemon=True)
        self.client = client
        self.paths = [client.paths(obj)[1] for obj in objects]
        self.interval = interval
        self.completed = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            for path in self.paths:
                try:
                    keep = without_foreground(self.client.get(path))
                    if keep is not None:
                        patch = {"metadata": {"finalizers": keep or None}}
                        self.client.request("PATCH", path, patch, content_type="application/merge-patch+json")
                        self.completed += 1
                except ApiError:
                    continue  # gone already, or changed under us: the next round sees it

    def stop(self) -> None:
        self._stopping.set()
        self.join()
