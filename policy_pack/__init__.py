"""The Pulumi policy pack: the project's Gatekeeper policies, run during `pulumi preview`."""
