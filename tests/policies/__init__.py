"""Tests of the admission policy library (secure_model_serving/policies/) on the offline Gatekeeper engine."""
