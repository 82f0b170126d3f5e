"""The physical floor: raw Postgres ``INSERT`` + ``NOTIFY`` in one transaction → ``LISTEN`` wake (psycopg)."""

from __future__ import annotations

import threading
import time

import psycopg


def notify_latency(database_url: str, n: int = 200) -> list[float]:
    """Seconds from before each INSERT+NOTIFY commit to the listener's wake-up."""
    received: dict[int, float] = {}
    ready = threading.Event()
    done = threading.Event()

    def listen() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("LISTEN bench_floor")
            ready.set()
            for note in conn.notifies(timeout=60):
                received[int(note.payload)] = time.time()
                if len(received) == n:
                    break
        done.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(30)
    sent: dict[int, float] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (i int, t double precision)")
        for i in range(n):
            sent[i] = time.time()
            with conn.transaction():
                conn.execute("INSERT INTO bench_floor VALUES (%s, %s)", (i, sent[i]))
                conn.execute("SELECT pg_notify('bench_floor', %s)", (str(i),))
            time.sleep(0.005)  # pacing: one notification in flight at a time
    done.wait(60)
    return [received[i] - sent[i] for i in range(n) if i in received]
