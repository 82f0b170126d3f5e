"""A logger wrapper that logs each distinct repeated problem once per interval, with a count of what it held back.

Why: a failing database read retried by many feeds (or by one feed, often) would otherwise fill the log with the
same traceback; one line per interval per problem says the same, and the count says how bad it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable


class RateLimitedLog:
    """Log a message at most once per ``interval`` seconds per key; later repeats are counted and reported.

    Args:
        logger: where to log.
        interval: seconds between two lines for the same key.
        clock: monotonic clock (tests pass their own).
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[Hashable, tuple[float, int]] = {}  # key -> (time of the last line, repeats held back)

    def warning(self, key: Hashable, msg: str, *args: object, exc_info: BaseException | None = None) -> bool:
        """Log ``msg % args`` at WARNING unless ``key`` was logged less than ``interval`` ago; whether it logged.

        The traceback (``exc_info``) is attached only to the first line of a key, later lines carry its text.
        """
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if len(self._last) > 10_000:  # keys are per feed: forget the stale ones rather than grow without bound
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self._interval}
        held = 0 if last is None else last[1]
        suffix = f" ({held} similar messages suppressed in the last {self._interval:g} s)" if held else ""
        self._log.warning(msg + suffix, *args, exc_info=exc_info if last is None else None)
        self._last[key] = (now, 0)
        return True
