"""Turnout: a self-hosted serverless platform for Python functions, built around safe updates."""

__version__ = "0.1.0"
