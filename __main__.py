"""Pulumi entry point: validate this stack's settings, then build the platform."""

from components.program import run

run()
