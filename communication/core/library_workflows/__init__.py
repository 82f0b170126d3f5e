"""The library's own DBOS workflows (session idle checks, schedule dispatch), registered by every process."""
