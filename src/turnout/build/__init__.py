"""Turning uploaded code into runnable bundles (and, later, dependency layers)."""
