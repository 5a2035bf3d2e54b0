"""Cron maths on the wall clock of a timezone: DST gaps and repeats in Berlin and New York, validation, jitter."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio_shared.cron import Cron, InvalidCron, InvalidTimezone, jitter

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
# 2026's transitions: Berlin springs forward 02:00→03:00 on 29 March and falls back 03:00→02:00 on 25 October;
# New York springs forward 02:00→03:00 on 8 March and falls back 02:00→01:00 on 1 November.
SPRING = {BERLIN: (2026, 3, 29), NEW_YORK: (2026, 3, 8)}
FALL = {BERLIN: (2026, 10, 25), NEW_YORK: (2026, 11, 1)}
REPEATED_HOUR = {BERLIN: 2, NEW_YORK: 1}  # the wall-clock hour shown twice on the fall-back day


def ticks(cron: Cron, start: datetime, end: datetime) -> list[datetime]:
    """The ticks in [start, end)."""
    out: list[datetime] = []
    found = cron.next_after(start - timedelta(microseconds=1))
    while found is not None and found < end:
        out.append(found)
        found = cron.next_after(found)
    return out


def local_day(cron: Cron, day: tuple[int, int, int]) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight of ``day`` and of the next day."""
    midnight = datetime(*day, tzinfo=cron.zone)
    return midnight.astimezone(UTC), (midnight + timedelta(days=1)).replace(tzinfo=cron.zone).astimezone(UTC)


def walls(cron: Cron, instants: list[datetime]) -> list[str]:
    return [t.astimezone(cron.zone).strftime("%H:%M%z") for t in instants]


# ------------------------------------------------------------------------------------------------ DST gaps


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_a_fixed_time_in_the_spring_gap_fires_once_when_the_gap_ends(zone: str) -> None:
    cron = Cron.parse("30 2 * * *", zone)
    start, end = local_day(cron, SPRING[zone])
    fired = ticks(cron, start, end)
    assert walls(cron, fired) == [f"03:00{'+0200' if zone == BERLIN else '-0400'}"]
    assert fired[0] == datetime(*SPRING[zone], 1 if zone == BERLIN else 7, tzinfo=UTC), "the transition instant"
    # The days around it are ordinary: 02:30 local, one fire each.
    day_before = datetime(*SPRING[zone], tzinfo=cron.zone) - timedelta(days=1)
    assert (
        walls(cron, ticks(cron, *local_day(cron, (day_before.year, day_before.month, day_before.day))))[0][:5]
        == "02:30"
    )


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_ticks_that_all_fall_into_the_gap_collapse_into_one(zone: str) -> None:
    cron = Cron.parse("0,15,30,45 2 * * *", zone)
    assert len(ticks(cron, *local_day(cron, SPRING[zone]))) == 1
    both = Cron.parse("0,30 2,3 * * *", zone)
    assert walls(both, ticks(both, *local_day(both, SPRING[zone])))[:2] == walls(
        both, [datetime(*SPRING[zone], 3, 0, tzinfo=both.zone), datetime(*SPRING[zone], 3, 30, tzinfo=both.zone)]
    ), "02:00 and 02:30 land on 03:00, which fires once; 03:30 follows"


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_an_interval_expression_skips_wall_times_that_do_not_exist(zone: str) -> None:
    cron = Cron.parse("30 * * * *", zone)
    fired = ticks(cron, *local_day(cron, SPRING[zone]))
    assert len(fired) == 23, "a 23-hour day has 23 half-past ticks"
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(fired)), "elapsed time is kept"
    assert "02:30" not in {w[:5] for w in walls(cron, fired)}


# --------------------------------------------------------------------------------------------- DST repeats


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_a_fixed_time_in_the_repeated_hour_fires_once_at_its_first_occurrence(zone: str) -> None:
    hour = REPEATED_HOUR[zone]
    cron = Cron.parse(f"30 {hour} * * *", zone)
    fired = ticks(cron, *local_day(cron, FALL[zone]))
    assert len(fired) == 1
    first = datetime(*FALL[zone], hour, 30, tzinfo=cron.zone, fold=0).astimezone(UTC)
    second = datetime(*FALL[zone], hour, 30, tzinfo=cron.zone, fold=1).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    assert fired == [first], "summer time's 01:30/02:30, not the repeat an hour later"
    assert cron.next_after(first) == first + timedelta(days=1, hours=1), "the next fire is the next day's"


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_an_interval_expression_fires_in_both_passes_of_the_repeated_hour(zone: str) -> None:
    cron = Cron.parse("*/30 * * * *", zone)
    fired = ticks(cron, *local_day(cron, FALL[zone]))
    assert len(fired) == 50, "a 25-hour day has 50 half-hour ticks"
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(fired))
    hourly = Cron.parse("0 * * * *", zone)
    assert len(ticks(hourly, *local_day(hourly, FALL[zone]))) == 25


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_a_daily_time_stays_on_the_wall_clock_across_transitions(zone: str) -> None:
    cron = Cron.parse("0 9 * * 1-5", zone)
    start = datetime(*SPRING[zone], tzinfo=cron.zone).astimezone(UTC) - timedelta(days=10)
    fired = ticks(cron, start, start + timedelta(days=20))
    assert {w[:5] for w in walls(cron, fired)} == {"09:00"}
    assert len({t.astimezone(UTC).hour for t in fired}) == 2, "the UTC hour moves by one"
    assert all(t.astimezone(cron.zone).weekday() < 5 for t in fired)


def test_a_per_second_expression_is_fast_and_exact_in_the_repeated_hour() -> None:
    cron = Cron.parse("* * * * * */10", BERLIN)
    change = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # 03:00 CEST becomes 02:00 CET
    fired = ticks(cron, change - timedelta(minutes=1), change + timedelta(minutes=1))
    assert len(fired) == 12 and all(b - a == timedelta(seconds=10) for a, b in itertools.pairwise(fired))


# ------------------------------------------------------------------------------------------ searching back


EXPRESSIONS = ["30 2 * * *", "30 1 * * *", "*/20 * * * *", "0 * * * *", "45 2,3 * * *", "0 0 * * 0", "* * * * * */30"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from([BERLIN, NEW_YORK, "UTC", "Australia/Lord_Howe"]),
    expression=st.sampled_from(EXPRESSIONS),
    start=st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 11, 10)),
)
def test_searching_backwards_finds_exactly_the_ticks_searching_forwards_finds(
    zone: str, expression: str, start: datetime
) -> None:
    cron = Cron.parse(expression, zone)
    begin = start.replace(tzinfo=UTC)
    forward = ticks(cron, begin, begin + timedelta(days=2))[:40]
    assert forward == sorted(set(forward)), "strictly increasing, no tick twice"
    if len(forward) < 2:
        return
    backward = [forward[-1]]
    while len(backward) < len(forward):
        found = cron.previous_before(backward[-1])
        assert found is not None
        backward.append(found)
    assert backward[::-1] == forward


def test_seconds_are_the_sixth_field() -> None:
    cron = Cron.parse("* * * * * */15")
    start = datetime(2026, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert [t.second for t in ticks(cron, start, start + timedelta(minutes=1))] == [15, 30, 45, 0]
    assert cron.has_seconds and not Cron.parse("* * * * *").has_seconds


# ------------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("", "5 fields"),
        ("* * *", "5 fields"),
        ("* * * * * * *", "has 7"),
        ("61 * * * *", "not a valid cron"),
        ("*/0 * * * *", "not a valid cron"),
        ("0 0 30 2 *", "30 February"),
        ("R * * * *", "random"),
        ("H * * * *", "hashed"),
        ("@reboot", "5 fields"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, says: str) -> None:
    with pytest.raises(InvalidCron, match=says):
        Cron.parse(expression)


@pytest.mark.parametrize("name", ["", "Mars/Olympus_Mons", "../etc/passwd", "localtime", " UTC", "utc"])
def test_bad_timezones_are_refused(name: str) -> None:
    with pytest.raises(InvalidTimezone, match=r"IANA|unknown timezone"):
        Cron.parse("0 9 * * *", name)


def test_aliases_names_and_spacing_are_accepted() -> None:
    assert Cron.parse("@daily", BERLIN).expression == "0 0 * * *"
    assert Cron.parse("  0   9 * *   THU ").expression == "0 9 * * THU"
    assert Cron.parse("0 9 * JAN,MAR mon-fri").next_after(datetime(2026, 2, 1, tzinfo=UTC)) == datetime(
        2026, 3, 2, 9, tzinfo=UTC
    )
    assert Cron.parse("0 0 29 2 *").next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)


def test_fixed_time_means_a_specific_minute_and_hour() -> None:
    assert Cron.parse("30 2 * * *").fixed_time
    assert Cron.parse("0,30 9-17 * * 1-5").fixed_time
    assert not Cron.parse("*/5 2 * * *").fixed_time
    assert not Cron.parse("0 * * * *").fixed_time
    assert not Cron.parse("@hourly").fixed_time


# ---------------------------------------------------------------------------------------------------- jitter


def test_jitter_is_deterministic_bounded_and_spread() -> None:
    tick = datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert jitter("s1", tick, 0) == timedelta(0)
    assert jitter("s1", tick, 60) == jitter("s1", tick.astimezone(Cron.parse("* * * * *", BERLIN).zone), 60)
    values = {jitter(f"s{i}", tick, 60) for i in range(200)}
    assert all(timedelta(0) <= v <= timedelta(seconds=60) for v in values)
    assert len(values) > 150, "schedules at the same tick spread out"
    per_tick = {jitter("s1", tick + timedelta(minutes=m), 60) for m in range(50)}
    assert len(per_tick) > 40, "and so do the ticks of one schedule"
