"""``python -m communication.node.worker``: the same as ``python server.py --worker`` (:mod:`.entry`).

The worker itself is :mod:`communication.node.worker_process`.
"""

from __future__ import annotations

import sys

from communication.node import entry


def main(argv: list[str] | None = None) -> int:
    """Run a worker with the server's command line; returns the exit status (see :mod:`communication.node.entry`)."""
    args = sys.argv[1:] if argv is None else argv
    return entry.main(["--worker", *args], prog="python -m communication.node.worker")


if __name__ == "__main__":
    sys.exit(main())
