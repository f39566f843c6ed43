"""Helpers shared by more than one test tier (imported, never collected)."""
