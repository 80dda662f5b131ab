"""Helpers of bench/e2e.py: the loopback news site (build and serve)."""
