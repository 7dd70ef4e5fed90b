"""The web console at ``/ui``: server-rendered pages over the services, for people who watch and steer
releases (docs/console.md). A client of the services like the API adapters; never of the store."""
