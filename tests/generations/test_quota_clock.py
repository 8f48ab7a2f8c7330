"""Admission's bound on the wait and a waiting generation's estimated start say the same: the quota
replayed call by call (what a place in line shows) and the queue's calls jumped over in whole windows
(what admission reads: a count and its tokens) give the same start for the calls that follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from donatello.generations.quota_clock import QuotaClock

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WINDOW = 60.0


def _clock(calls: int | None, share: int | None, made: list[tuple[float, int]]) -> QuotaClock:
    in_window = sorted((NOW - timedelta(seconds=ago), tokens) for ago, tokens in made)
    return QuotaClock(WINDOW, calls, share, in_window, NOW)


quotas = st.tuples(
    st.one_of(st.none(), st.integers(1, 12)),  # calls per window
    st.one_of(st.none(), st.integers(500, 5000)),  # tokens per window
).filter(lambda quota: quota != (None, None))
made = st.lists(st.tuples(st.floats(0.0, WINDOW - 0.5), st.integers(0, 1500)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    quota=quotas,
    made=made,
    owed=st.integers(0, 60),
    bound=st.integers(0, 2400),
    wanted=st.lists(st.integers(0, 2400), min_size=1, max_size=4),
)
def test_jumping_over_the_queue_gives_the_start_replaying_it_gives(
    quota: tuple[int | None, int | None],
    made: list[tuple[float, int]],
    owed: int,
    bound: int,
    wanted: list[int],
) -> None:
    calls, share = quota
    replayed, jumped = _clock(calls, share, made), _clock(calls, share, made)
    for _ in range(owed):
        replayed.next(bound)
    jumped.skip(owed, bound)

    assert [jumped.next(tokens) for tokens in wanted] == [replayed.next(tokens) for tokens in wanted]


def test_a_token_quota_that_binds_first_spaces_the_calls_by_their_tokens() -> None:
    """Two calls of 1,100 tokens fit a window of 2,650 tokens (60 requests allowed): the third and fourth
    wait a window, the fifth two; a call larger than the share goes alone, once the window is empty."""
    clock = _clock(60, 2650, [])
    starts = [(clock.next(1100) - NOW).total_seconds() for _ in range(5)]
    assert starts == [0, 0, 60, 60, 120]
    assert (clock.next(3000) - NOW).total_seconds() == 180  # after the fifth has left the window
