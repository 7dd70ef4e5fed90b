"""Cluster mode: several nodes sharing one PostgreSQL and nothing else (docs/cluster.md).

Everything a node needs to behave as part of one platform lives here: bundles kept in the store, the change
feed that crosses nodes (LISTEN/NOTIFY plus the durable change sequence), node heartbeats, and the rollout
windows every node shares. On SQLite (one node) the composition root uses none of it.
"""
