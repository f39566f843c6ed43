"""Tests of the offline tools: render diff and blast-radius audit."""
