"""State collection: the leader's snapshot of its group (pure)."""
