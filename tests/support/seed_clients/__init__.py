"""The seed documents' own client programs, kept as they were written (run as subprocesses by the tests)."""
