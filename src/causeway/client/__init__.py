"""The researcher's Python SDK."""

from causeway.client.client import Client, Progress

__all__ = ["Client", "Progress"]
