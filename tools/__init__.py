"""Offline commands for the model-serving platform: render, policy check, audit."""
