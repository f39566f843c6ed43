"""Offline commands for the model-serving platform (`python -m tools` lists them): render, diff,
policy check, audit, sandbox, toolchain; tools.manifests is the reader of manifests they share."""
