"""A batch's observations of a key, swept into sessions at once, give the sessions that adding
them one at a time gives (the rule sessions had before the sweep), in any order and split."""

from __future__ import annotations

from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.pipeline.sessionize.sessions import Observation, Session, add_observations

MINUTE = 60_000


def one_at_a_time(sessions: tuple[Session, ...], observation: Observation, gap_ms: int) -> tuple[Session, ...]:
    """The earlier rule, kept here as the reference: join every session within the gap."""
    joined = Session.of(observation)
    kept = []
    for session in sessions:
        if session.within(joined, gap_ms):
            joined = joined.merged(session)
        else:
            kept.append(session)
    kept.append(joined)
    return tuple(sorted(kept, key=lambda s: s.start_ms))


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    end = draw(st.integers(0, 240)) * 15_000 + draw(st.integers(0, 999))
    interval = draw(st.sampled_from([0, 1_000, 30_000, MINUTE, 90_000, 5 * MINUTE]))
    active = draw(st.none() | st.integers(0, interval))
    return Observation(
        start_ms=1_000_000_000 + end - interval,
        end_ms=1_000_000_000 + end,
        active_ms=active,
        signin=draw(st.booleans()),
        session_type=draw(st.sampled_from(["console", "remote", "unknown"])),
        device_timezone=draw(st.sampled_from(["", "Europe/Berlin", "UTC"])),
    )


@settings(max_examples=400, deadline=None)
@given(
    st.lists(observations(), max_size=40),
    st.sampled_from([0, 1_000, 5 * MINUTE, 30 * MINUTE]),
    st.integers(0, 40),
    st.randoms(use_true_random=False),
)
def test_a_sweep_gives_what_one_at_a_time_gives(items: list[Observation], gap_ms: int, cut: int, rng: Random) -> None:
    expected: tuple[Session, ...] = ()
    for item in items:
        expected = one_at_a_time(expected, item, gap_ms)
    shuffled = list(items)
    rng.shuffle(shuffled)
    assert add_observations((), shuffled, gap_ms) == expected
    held = add_observations((), items[:cut], gap_ms)
    assert add_observations(held, items[cut:], gap_ms) == expected


def test_an_observation_between_two_sessions_bridges_them() -> None:
    def at(minute: int) -> Observation:
        return Observation(minute * MINUTE, minute * MINUTE + MINUTE, MINUTE)

    held = add_observations((), [at(0), at(20)], 10 * MINUTE)
    assert len(held) == 2
    (bridged,) = add_observations(held, [at(10)], 10 * MINUTE)
    assert (bridged.start_ms, bridged.end_ms, bridged.events) == (0, 21 * MINUTE, 3)
