"""Test support code: in-process apps, real server and worker processes, chaos tooling, seed clients."""
