"""Running functions: the worker bootstrap (stdlib only), fork servers, workers and pools."""
