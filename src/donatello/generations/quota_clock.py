"""When a model's quota lets its next calls go: its rolling windows of requests and tokens replayed over
the calls already in the window and those queued ahead, one call after another in queue order.

A call may go once fewer than the window's calls were made in the window before it, and once the tokens
there and its own fit the window's share (or the window holds no tokens: a call larger than the share
goes alone) — the rule the worker's claims and sends keep (``pacing``). A place frees one window after
its call was sent. Used for a waiting generation's estimated start (``waiting``) and for admission's
bound on the wait, so both say the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class QuotaClock:
    """The quota of one model: ``window`` seconds holding ``calls`` calls and ``tokens`` tokens (None: no
    such quota), with the calls ``made`` in the window now ((when sent, tokens), oldest first)."""

    def __init__(
        self,
        window: float,
        calls: int | None,
        tokens: int | None,
        made: list[tuple[datetime, int]],
        now: datetime,
    ) -> None:
        self._span = timedelta(seconds=window)
        self._calls, self._share, self._now = calls, tokens, now
        self._times = [at for at, _ in made]
        self._tokens = [count for _, count in made]
        self._first = 0  # the calls before it have left the window of every call still to come
        self._sum = sum(self._tokens)  # the tokens of the calls from ``_first`` on

    def next(self, bound: int = 0) -> datetime:
        """When the next call, using up to ``bound`` tokens, may go (the calls before it went first)."""
        at = max(self._now, self._times[-1]) if self._times else self._now
        if self._calls is not None and len(self._times) >= self._calls:
            at = max(at, self._times[-self._calls] + self._span)
        if self._share is not None:
            while self._first < len(self._times) and self._times[self._first] + self._span <= at:
                self._leave()
            while self._sum > 0 and self._sum + bound > self._share:
                at = max(at, self._times[self._first] + self._span)
                self._leave()
        self._times.append(at)
        self._tokens.append(bound)
        self._sum += bound
        return at

    def skip(self, count: int, bound: int = 0) -> None:
        """``count`` calls of ``bound`` tokens each go first — past the calls in the window now, they go
        one window after the call a whole window's worth before them, so most are not replayed."""
        if count <= 0:
            return
        period = self._period(bound)
        if period is None:  # nothing binds: they all go at once
            for _ in range(min(count, len(self._times) + 1)):
                self.next(bound)
            return
        if self._share is None:  # requests alone: the window's places, the empty ones free now
            missing = max(0, period - len(self._times))
            self._times = [self._now - self._span] * missing + self._times[-period:]
            self._tokens = [0] * missing + self._tokens[-period:]
            self._first, self._sum = 0, sum(self._tokens)
        else:
            head = min(count, period + len(self._times) - self._first)
            for _ in range(head):
                self.next(bound)
            count -= head
        if count:
            self._repeat(count, bound, period)

    def _period(self, bound: int) -> int | None:
        """How many calls of ``bound`` tokens the window holds once only such calls are in it."""
        by_tokens = max(1, self._share // bound) if self._share is not None and bound > 0 else None
        held = [n for n in (self._calls, by_tokens) if n is not None]
        return min(held) if held else None

    def _repeat(self, count: int, bound: int, period: int) -> None:
        """``count`` more calls in the steady state: call i goes one window after call i - ``period``."""
        last = self._times[-period:]
        keep = max(period, self._calls or 0)
        later = [
            last[i % period] + self._span * (i // period + 1) for i in range(max(0, count - keep), count)
        ]
        self._times = (self._times + later)[-keep:] if count < keep else later
        self._tokens = [bound] * len(self._times)
        self._first, self._sum = 0, bound * len(self._times)

    def _leave(self) -> None:
        self._sum -= self._tokens[self._first]
        self._first += 1
