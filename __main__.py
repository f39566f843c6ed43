"""Pulumi entry point: validate this stack's settings, then build the platform."""

from secure_model_serving.program.run import run

run()
