"""Disclosure control and the release gate (differential privacy and budgets follow)."""
