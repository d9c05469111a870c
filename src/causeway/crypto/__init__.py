"""Keys, signatures and signed requests (secure aggregation and PSI follow)."""
