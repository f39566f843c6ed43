"""The Pulumi program: a stack's settings mapped to each component's Args, per stack role."""
