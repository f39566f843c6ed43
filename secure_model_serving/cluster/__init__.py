"""What the platform installs once per cluster, and SecureModelPlatform, which builds it and its tenants."""
