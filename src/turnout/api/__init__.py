"""HTTP adapters over the services: the native API under /v1."""
