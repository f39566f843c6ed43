"""Tests of the model server image sources in app/."""
