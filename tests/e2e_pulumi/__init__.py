"""The real `pulumi up` tier (`make e2e-pulumi`): the Pulumi CLI, engine and Kubernetes provider
against the sandbox's real API server. `python -m tests.e2e_pulumi` runs it."""
