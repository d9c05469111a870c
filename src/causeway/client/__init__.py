"""The researcher's Python SDK."""

from causeway.client.catalog import DatasetDescription, SiteStatus
from causeway.client.client import Client, Progress

__all__ = ["Client", "DatasetDescription", "Progress", "SiteStatus"]
