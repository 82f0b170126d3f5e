"""Ask the agent through the gateway: start ``agent_run`` by name on queue ``agents``, print tokens as they stream,
send feedback, print the result.

    python examples/agent_gateway/ask.py [--url http://127.0.0.1:8000] "your prompt"
"""

from __future__ import annotations

import argparse
import sys

from communication.client import Client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--workflow-id", default=None)
    args = parser.parse_args(argv)

    with Client(args.url) as client:
        # A workflow type this server does not have: enqueued by name on the application's queue.
        started = client.start("agent_run", {"prompt": args.prompt}, queue="agents", workflow_id=args.workflow_id)
        workflow_id = started.workflow_id
        print(f"workflow {workflow_id}", flush=True)
        for item in client.tail_stream(workflow_id, "tokens"):  # live; resumes by offset if the connection drops
            print(item.value, end="", flush=True)
        print()
        client.get_event(workflow_id, "status", timeout=60)  # "awaiting_feedback" once the stream is closed
        client.send(workflow_id, {"helpful": True}, topic="feedback", idempotency_key=f"{workflow_id}-feedback")
        outcome = client.result(workflow_id, timeout=60)
    print(f"result {outcome.status}: {outcome.output}")
    return 0 if outcome.status == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
