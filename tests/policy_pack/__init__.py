"""Tests of the Pulumi policy pack's validators (without pulumi_policy)."""
