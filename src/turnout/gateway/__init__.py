"""The data plane: the in-memory routing table and the invoke path."""
