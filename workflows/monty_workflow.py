"""The ``monty_python`` workflow (seed: a Temporal SSE demo, now on DBOS): quotes until told to stop.

Each iteration durably sleeps a random duration in ``[min_sleep_seconds, max_sleep_seconds]`` and then
delivers a random Monty Python quote. The whole state (iteration, quotes delivered, current quote, a status
such as ``iteration_1_sleeping_for_15_seconds``, ...) is published as event :data:`STATE_EVENT` at every
change, so it is readable at any time and watchable live (``GET /monty/stream``, ``/v1/.../events/live``).

Stopping: a message on topic :data:`STOP_TOPIC`. The sleep *is* ``DBOS.recv_async(STOP_TOPIC, timeout)``:
a durable sleep (DBOS records its deadline, so a recovered workflow does not restart the wait) that returns
early when a stop arrives, so a stop never waits for a 30 s sleep to end. A stop sent between iterations
waits in the topic and ends the next sleep at once.

Random choices and clock readings are DBOS steps: a replay after a crash sees the recorded values.
"""

from __future__ import annotations

import random
import time
from typing import Any

from dbos import DBOS

from communication.compat.models import (
    STATE_EVENT,
    STOP_TOPIC,
    TYPE_NAME,
    MontyInput,
    initial_state,
)
from communication.kit import registry

QUOTES: tuple[str, ...] = (
    "Nobody expects the Spanish Inquisition!",
    "'Tis but a scratch.",
    "It's just a flesh wound.",
    "We are the Knights who say... Ni!",
    "Bring out your dead!",
    "I'm not dead yet!",
    "Your mother was a hamster and your father smelt of elderberries!",
    "Now go away or I shall taunt you a second time!",
    "What is the airspeed velocity of an unladen swallow?",
    "African or European swallow?",
    "Run away! Run away!",
    "Strange women lying in ponds distributing swords is no basis for a system of government.",
    "Help! Help! I'm being repressed!",
    "She turned me into a newt! ... I got better.",
    "And now for something completely different.",
    "This parrot is no more! It has ceased to be!",
    "It's not pining, it's passed on!",
    "Always look on the bright side of life.",
    "He's not the Messiah, he's a very naughty boy!",
    "What have the Romans ever done for us?",
    "Nudge nudge, wink wink, say no more!",
    "I fart in your general direction!",
)


def sleep_text(seconds: float) -> str:
    """``15`` for whole seconds, ``0.05`` otherwise (the status reads ``..._sleeping_for_15_seconds``)."""
    return f"{seconds:g}"


@DBOS.step(name="monty_plan_sleep")
async def plan_sleep(low: float, high: float) -> dict[str, float]:
    """Draw this iteration's sleep and read the clock. Whole-second bounds give whole seconds (as the seed)."""
    if float(low).is_integer() and float(high).is_integer():
        seconds = float(random.randint(int(low), int(high)))
    else:
        seconds = round(random.uniform(low, high), 3)
    return {"sleep_seconds": seconds, "at": time.time()}


@DBOS.step(name="monty_pick_quote")
async def pick_quote() -> dict[str, Any]:
    """Draw a quote and read the clock."""
    return {"quote": random.choice(QUOTES), "at": time.time()}


@DBOS.step(name="monty_clock")
async def clock() -> float:
    """Wall-clock time, recorded."""
    return time.time()


@registry.register(
    TYPE_NAME,
    MontyInput,
    "Seed demo: loops until a message on topic 'stop' - durably sleeps a random time, then delivers a Monty Python "
    "quote; publishes its state as event 'state'. Stream it with GET/POST /monty/stream.",
)
async def monty_python_workflow(params: dict[str, Any]) -> dict[str, Any]:
    """Quote until stopped or ``max_iterations`` quotes (default 100: never forever); return the run's summary."""
    p = MontyInput.model_validate(params)
    state = initial_state(await clock())
    await DBOS.set_event_async(STATE_EVENT, state)
    quotes: list[str] = []
    reason = "stopped"
    while True:
        if state["iteration"] >= p.max_iterations:
            reason = "max_iterations"
            break
        iteration = state["iteration"] + 1
        plan = await plan_sleep(p.min_sleep_seconds, p.max_sleep_seconds)
        seconds = plan["sleep_seconds"]
        state = {
            **state,
            "status": f"iteration_{iteration}_sleeping_for_{sleep_text(seconds)}_seconds",
            "iteration": iteration,
            "progress": 0,
            "sleep_seconds": seconds,
            "sleep_until": plan["at"] + seconds,
            "updated_at": plan["at"],
        }
        await DBOS.set_event_async(STATE_EVENT, state)
        if await DBOS.recv_async(STOP_TOPIC, timeout_seconds=seconds) is not None:
            break  # stopped mid-sleep: this iteration delivers no quote
        pick = await pick_quote()
        quotes.append(pick["quote"])
        state = {
            **state,
            "status": f"delivered_quote_{len(quotes)}",
            "quotes_delivered": len(quotes),
            "current_quote": pick["quote"],
            "progress": 100,
            "sleep_until": None,
            "updated_at": pick["at"],
        }
        await DBOS.set_event_async(STATE_EVENT, state)
    ended_at = await clock()
    elapsed = round(ended_at - state["started_at"], 3)
    state = {**state, "status": "stopped", "stopped": True, "sleep_until": None, "updated_at": ended_at}
    await DBOS.set_event_async(STATE_EVENT, state)
    return {
        "final_status": "gracefully_terminated" if reason == "stopped" else "completed",
        "reason": reason,
        "workflow_id": DBOS.workflow_id,
        "iterations": state["iteration"],
        "quotes_delivered": len(quotes),
        "quotes": quotes,
        "elapsed": elapsed,
        # The seed's result field names, so its clients keep working.
        "total_iterations": state["iteration"],
        "total_quotes_delivered": len(quotes),
        "total_runtime": elapsed,
    }
