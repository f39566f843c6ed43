"""What one model tenant owns on a (possibly shared) cluster, and ModelTenant, which builds it."""
