"""The `turnout` command: a client of the HTTP API."""
