"""An LLM-agent-like DBOS application of its own (no dependency on this project), served through the gateway.

It runs its workflows itself (queue ``agents``); the communication server, pointed at the same system database,
starts them by name, tails their token stream, delivers feedback messages and reads results::

    export DBOS_SYSTEM_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agents   # or sqlite:///data/agents.sqlite
    python examples/agent_gateway/agent_app.py &          # the application (its own process, its own code)
    COMM_WORKFLOWS= COMM_GATEWAY_WORKFLOWS=agents:agent_run python server.py &   # the gateway: may start agent_run
    python examples/agent_gateway/ask.py "tell me about durable streams"

Every value is portable JSON (``serialization_type=PORTABLE``), so the gateway, the Python client, ``wfc``,
``DBOSClient`` and other languages can read it.
"""

from __future__ import annotations

import os
import signal
import threading

from dbos import DBOS, WorkflowSerializationFormat

PORTABLE = WorkflowSerializationFormat.PORTABLE


def fake_model(prompt: str, max_tokens: int) -> list[str]:
    """A deterministic stand-in for an LLM: answers with the prompt's words, reversed, one token per word."""
    words = prompt.split()[::-1][:max_tokens]
    return [f"{w} " for w in words] + ["<end>"]


@DBOS.step()
async def generate(prompt: str, max_tokens: int) -> list[str]:
    """The model call: a step, so a recovered workflow does not call the model twice."""
    return fake_model(prompt, max_tokens)


@DBOS.workflow(name="agent_run", serialization_type=PORTABLE)
async def agent_run(prompt: str, max_tokens: int = 16) -> dict[str, object]:
    """Stream the answer token by token, then wait (durably) for the user's feedback."""
    await DBOS.set_event_async("status", "generating")
    tokens = await generate(prompt, max_tokens)
    for token in tokens:
        await DBOS.write_stream_async("tokens", token)
    await DBOS.close_stream_async("tokens")
    await DBOS.set_event_async("status", "awaiting_feedback")
    feedback = await DBOS.recv_async("feedback", timeout_seconds=600)
    await DBOS.set_event_async("status", "done")
    return {"answer": "".join(tokens[:-1]).strip(), "feedback": feedback}


def main() -> None:
    """Launch, register the queue the gateway enqueues on, run until SIGTERM/SIGINT."""
    DBOS(
        config={
            "name": "agent-app",
            "system_database_url": os.environ["DBOS_SYSTEM_DATABASE_URL"],
            "executor_id": os.environ.get("AGENT_EXECUTOR_ID", "agent-1"),
            "notification_listener_polling_interval_sec": 0.01,
        }
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    DBOS.launch()
    DBOS.register_queue("agents", polling_interval_sec=0.1)
    print("agent-app ready: queue 'agents'", flush=True)
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=0)


if __name__ == "__main__":
    main()
