"""How fast the concurrent transport may post: a token bucket for ``SEND_RATE_LIMIT_PER_SECOND``, and an allowed
rate that falls when API Gateway throttles and grows back by steps while it does not.

API Gateway's account throttle (10,000 requests/s by default) is shared by the HTTP API, the WebSocket API and
every ``@connections`` call; a fan-out that takes all of it throttles the site. The bucket lends tokens ahead:
a post that finds one waits for nothing (no sleep call), one that does not is told how long to wait for its turn,
so posts are spread evenly at the allowed rate without any busy-wait.

The allowed rate is judged once per ``WINDOW_SECONDS`` (multiplicative decrease, additive increase): after a
window with throttled answers it falls by their share of the window's posts (of at least ``MIN_JUDGED_POSTS``; at
most by half, so a window of nothing but 429s halves it); after a window without, it grows by
``RECOVERY_SHARE_PER_SECOND`` of its ceiling per second (the cap, or without a cap the rate seen when the throttling
began, after which it is uncapped again). Loop-confined: one pacer per process, used from the sender's event loop
only. No clock but the one given.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# The bucket holds this many seconds of posts, so a send starts without waiting and a burst stays short.
BURST_SECONDS = 0.1
# How often the allowed rate is judged: long enough for a window's throttled answers to come back.
WINDOW_SECONDS = 0.25
# The most one window of throttling takes off the allowed rate.
MAX_DECREASE = 0.5
# A window's throttled share is taken of at least this many posts: at the tail of a send a window may hold only a
# few retries, whose 429s say little about the account's load and must not halve the rate window after window.
MIN_JUDGED_POSTS = 100
# While nothing is throttled, the allowed rate grows by this share of its ceiling per second, and by at least
# RECOVERY_MIN_PER_SECOND (a throttle seen during a small send must not hold the next large one back for long).
RECOVERY_SHARE_PER_SECOND = 0.1
RECOVERY_MIN_PER_SECOND = 100.0
# Without a cap, the rate seen is a window's posts over the time they took, taken as at least this long.
MIN_SPAN_SECONDS = 0.05
# The allowed rate never falls below this many posts per second.
MIN_RATE_PER_SECOND = 10.0


class SendPacer:
    """A token bucket whose rate is ``limit`` (None: no cap) until API Gateway throttles, then adaptive."""

    def __init__(self, limit: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if limit is not None and limit <= 0:
            raise ValueError(f"The send rate limit must be positive or None, not {limit!r}.")
        self.limit = limit
        self.clock = clock
        self.rate: float | None = limit  # the allowed rate now; None while uncapped and never throttled
        self.ceiling: float | None = limit  # what the rate grows back to (the rate seen at a throttle if no cap)
        now = clock()
        self._tokens = self._capacity()
        self._refilled = now
        self._window_start, self._window_posts, self._window_throttles = now, 0, 0
        self._first_post = self._last_post = now  # when the window's posts began and ended: the rate seen

    def _capacity(self) -> float:
        return 1.0 if self.rate is None else max(1.0, self.rate * BURST_SECONDS)

    def delay(self) -> float:
        """Take one post's token: 0.0 when it may go now, else the seconds to wait for its turn (the token is
        taken either way, so waiting callers are served in order at the allowed rate)."""
        now = self.clock()
        if now - self._window_start >= WINDOW_SECONDS:
            self._judge(now)
        if not self._window_posts:
            self._first_post = now
        self._window_posts += 1
        self._last_post = now
        if self.rate is None:
            return 0.0
        self._tokens = min(self._capacity(), self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0.0 else -self._tokens / self.rate

    def refund(self) -> None:
        """Give back the token of a post that waited for its turn and was then never made (the send's deadline
        passed): a later send must not wait for it."""
        if self.rate is not None:
            self._tokens = min(self._capacity(), self._tokens + 1.0)

    def throttled(self) -> None:
        """API Gateway answered 429: counted, and judged at the end of the window."""
        self._window_throttles += 1

    def _judge(self, now: float) -> None:
        """End the window: slow down by the share of throttled posts in it, or grow back towards the ceiling."""
        elapsed = now - self._window_start
        posts, throttles = self._window_posts, self._window_throttles
        span = max(MIN_SPAN_SECONDS, self._last_post - self._first_post)
        self._window_start, self._window_posts, self._window_throttles = now, 0, 0
        if throttles:
            # Without a cap, the rate the posts went at (an idle stretch in the window does not count).
            current = self.rate if self.rate is not None else posts / span
            if self.ceiling is None:
                self.ceiling = max(MIN_RATE_PER_SECOND, current)
            decrease = min(MAX_DECREASE, throttles / max(posts, throttles, MIN_JUDGED_POSTS))
            self.rate = max(MIN_RATE_PER_SECOND, current * (1 - decrease))
            self._tokens = min(self._tokens, self._capacity())
        elif self.rate is not None and self.ceiling is not None and self.rate < self.ceiling:
            step = max(RECOVERY_MIN_PER_SECOND, self.ceiling * RECOVERY_SHARE_PER_SECOND)
            self.rate = min(self.ceiling, self.rate + step * elapsed)
            if self.rate >= self.ceiling and self.limit is None:
                self.rate = self.ceiling = None  # back where it was: uncapped
