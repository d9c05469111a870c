"""Causeway."""
