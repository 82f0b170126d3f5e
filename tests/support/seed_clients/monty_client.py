"""Seed 000's Python client of the Monty Python SSE demo, unchanged but for the base URL (argv[1]).

httpx with its default timeouts (5 s read): it POSTs ``/monty/stream``, reads the SSE lines, prints each quote as it
arrives and, after the third, POSTs ``/workflow/{id}/signal/stop``, then prints the result and exits.
"""

import json
import sys

import httpx

BASE_URL = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"


def main() -> None:
    quotes = 0
    workflow_id = None
    with httpx.Client() as client, client.stream("POST", f"{BASE_URL}/monty/stream") as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = json.loads(line[len("data: ") :])
            if data["event"] == "workflow_started":
                workflow_id = data["workflow_id"]
                print(f"Started workflow {workflow_id}")
            elif data["event"] == "progress_update":
                if data.get("current_quote"):
                    quotes += 1
                    print(f"Quote {quotes}: {data['current_quote']}")
                    if quotes == 3:
                        answer = client.post(f"{BASE_URL}/workflow/{workflow_id}/signal/stop")
                        print(f"Stop: {answer.json()['status']}")
                else:
                    print(f"  {data['status']} progress={data['progress']} elapsed={data['elapsed']}")
            elif data["event"] == "workflow_completed":
                print(f"Completed: {json.dumps(data['result'])}")
                break


if __name__ == "__main__":
    main()
