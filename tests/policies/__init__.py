"""Tests of the admission policy library (policies/) on the offline Gatekeeper engine."""
