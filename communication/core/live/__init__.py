"""Live fan-out: one hub per process, one feed per (workflow, key), one storage read per write for all subscribers."""
