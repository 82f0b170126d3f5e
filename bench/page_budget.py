"""Response size and server memory of one stream snapshot page of large values, with and without a byte budget.

Runs a real ``python server.py`` (SQLite under a temporary directory, or ``--database-url``) with the ``bulky``
test workflow, writes ``--count`` values of ``--size`` characters to one stream, then reads one page with
``limit=1000``: once with the default budget (``COMM_PAGE_MAX_BYTES`` = 4 MiB) and once with a budget larger than
the stream (what every page did without one). Prints, per run: the response size, the values in the page, and the
server's resident memory before the read and its peak (VmHWM) after.

    .venv/bin/python -m bench.page_budget [--count 60] [--size 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx

from tests.support.server_proc import ServerProcess


def _memory_kib(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def run(database_url: str | None, budget: int, count: int, size: int) -> dict[str, float]:
    """One server: write the stream, read one page, measure."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/system.sqlite"
        env = {"COMM_PAGE_MAX_BYTES": str(budget), "COMM_WORKFLOWS": "workflows,tests.support.bulky_workflow"}
        with ServerProcess(url, log_dir=Path(tmp), env=env) as server, httpx.Client(timeout=600) as http:
            assert server.pid is not None
            wid = f"bench-bulk-{budget}"
            start = {"type": "bulky", "input": {"count": count, "size": size, "events": False, "steps": False}}
            assert http.post(f"{server.url}/v1/workflows", json={**start, "workflow_id": wid}).status_code == 201
            done = http.get(f"{server.url}/v1/workflows/{wid}/result", params={"timeout": 600}).json()
            assert done["status"] == "SUCCESS", done
            before = _memory_kib(server.pid)
            page = http.get(f"{server.url}/v1/workflows/{wid}/streams/bulk", params={"limit": 1000})
            after = _memory_kib(server.pid)
            body = page.json()
            return {
                "budget_mib": budget / 2**20,
                "response_mb": len(page.content) / 1e6,
                "values": len(body["values"]),
                "truncated": body.get("truncated", False),
                "rss_before_mib": before["VmRSS"] / 1024,
                "peak_rss_after_mib": after["VmHWM"] / 1024,
            }


def main() -> None:
    """Both runs, one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    total = args.count * args.size
    for budget in (4 * 2**20, 4 * total):
        print(run(args.database_url, budget, args.count, args.size), flush=True)


if __name__ == "__main__":
    main()
