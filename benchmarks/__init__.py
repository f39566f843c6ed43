"""Benchmark scripts, run as modules from the repository root (``python -m benchmarks.<name>``).

They print numbers and assert nothing; the test suite lives under ``tests/``.
"""

from __future__ import annotations
