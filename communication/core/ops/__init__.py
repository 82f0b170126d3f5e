"""Process operations: DBOS launch and shutdown, configuration checks, health, metrics, versions, recovery."""
