"""The embedded default: sliding-window logs in this process's memory.

Counts are per process — right for ``make run`` and a single API process, not for a scaled-out fleet
(configure Redis there). Memory stays bounded: keys whose window has emptied are dropped as they are
met, and beyond ``max_keys`` the least recently used key is evicted (forgetting its admissions, which
errs towards letting a request through rather than refusing it).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from donatello.ratelimit.limiter import ALLOWED_WITHOUT_CHECKS, Check, Decision


@dataclass
class _Window:
    seconds: int
    admissions: list[tuple[float, int]] = field(default_factory=list)  # (time, cost), oldest first
    total: int = 0

    def prune(self, now: float) -> None:
        horizon = now - self.seconds
        expired = 0
        while expired < len(self.admissions) and self.admissions[expired][0] <= horizon:
            self.total -= self.admissions[expired][1]
            expired += 1
        if expired:
            del self.admissions[:expired]

    def wait_for(self, cost: int, limit: int, now: float) -> float:
        """Seconds until ``cost`` more fits under ``limit``: the admission that frees enough ages out."""
        if cost > limit:
            return float(self.seconds)
        excess = self.total + cost - limit
        freed = 0
        for at, admitted in self.admissions:
            freed += admitted
            if freed >= excess:
                return at + self.seconds - now
        return float(self.seconds)  # unreachable while total is consistent


class InProcessLimiter:
    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._windows: OrderedDict[str, _Window] = OrderedDict()  # least recently used first
        self._max_keys = max_keys
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._windows)

    async def hit(
        self, key: str, *, limit: int, window_seconds: int, cost: int = 1, now: float | None = None
    ) -> Decision:
        return await self.hit_all([Check(key, limit, window_seconds, cost)], now=now)

    async def hit_all(self, checks: Sequence[Check], *, now: float | None = None) -> Decision:
        if not checks:
            return ALLOWED_WITHOUT_CHECKS
        at = time.time() if now is None else float(now)  # float: the receipt ``refund`` reads
        async with self._lock:
            self._evict_idle(at)
            windows = [self._window(check, at) for check in checks]
            refused: Decision | None = None
            for check, window in zip(checks, windows, strict=True):
                if window.total + check.cost > check.limit:
                    wait = window.wait_for(check.cost, check.limit, at)
                    if refused is None or wait > refused.retry_after_seconds:
                        remaining = max(0, check.limit - window.total)
                        refused = Decision(False, check.limit, remaining, wait, check)
            if refused is not None:
                return refused
            tightest: Decision | None = None
            for check, window in zip(checks, windows, strict=True):
                bisect.insort(window.admissions, (at, check.cost))
                window.total += check.cost
                remaining = check.limit - window.total
                if tightest is None or remaining < tightest.remaining:
                    tightest = Decision(True, check.limit, remaining, 0.0, check, receipt=at)
            assert tightest is not None
            return tightest

    async def refund(self, checks: Sequence[Check], decision: Decision) -> None:
        """Take out one admission of each check's cost at the charged instant (equal entries are
        interchangeable: removing any one of them frees the same allowance at the same time)."""
        if not decision.allowed or not isinstance(decision.receipt, float):
            return
        async with self._lock:
            for check in checks:
                window = self._windows.get(check.key)
                if window is None:
                    continue  # evicted or aged out: nothing left to give back
                entry = (decision.receipt, check.cost)
                position = bisect.bisect_left(window.admissions, entry)
                if position < len(window.admissions) and window.admissions[position] == entry:
                    del window.admissions[position]
                    window.total -= check.cost

    async def peek(self, check: Check, *, now: float | None = None) -> Decision:
        at = time.time() if now is None else float(now)
        async with self._lock:
            window = self._windows.get(check.key)
            if window is None:
                return Decision(True, check.limit, check.limit - check.cost, 0.0, check)
            window.prune(at)
            if window.total + check.cost > check.limit:
                wait = window.wait_for(check.cost, check.limit, at)
                return Decision(False, check.limit, max(0, check.limit - window.total), wait, check)
            return Decision(True, check.limit, check.limit - window.total - check.cost, 0.0, check)

    def _window(self, check: Check, now: float) -> _Window:
        window = self._windows.get(check.key)
        if window is None:
            window = self._windows[check.key] = _Window(check.window_seconds)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(check.key)
            window.seconds = check.window_seconds
        window.prune(now)
        return window

    def _evict_idle(self, now: float, budget: int = 8) -> None:
        """Drop a few least-recently-used keys whose windows have emptied (amortised O(1) per hit)."""
        for _ in range(budget):
            if not self._windows:
                return
            key, window = next(iter(self._windows.items()))
            window.prune(now)
            if window.admissions:
                return
            del self._windows[key]
