"""The late policies' worked examples, exactly (cnnlab_grade.late; the README's examples)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cnnlab_grade.late import (Extension, LatePolicy, Submitted, Term, assess, parse_duration, penalties,
                               read_extensions)

DUE = datetime(2025, 10, 6, 23, 59, tzinfo=timezone.utc)
TEN = LatePolicy.parse({"per": "day", "percent": 10, "grace": "15m", "cap": 30})


def at(**delta):
    return DUE + timedelta(**delta)


@pytest.mark.parametrize("late, percent, units", [
    (dict(minutes=10), 0, 0),          # within the grace period: on time
    (dict(minutes=15), 0, 0),          # the grace period's last second
    (dict(minutes=16), 10, 1),         # past it: counted from the due date, one day started
    (dict(hours=24), 10, 1),           # exactly one day
    (dict(hours=24, seconds=1), 20, 2),
    (dict(hours=49), 30, 3),
    (dict(days=5), 30, 5),             # capped at 30 %
])
def test_a_penalty_per_day_started_with_grace_and_cap(late, percent, units):
    res = assess(at(**late), DUE, TEN, score=12.0)
    assert (res.percent, res.units) == (percent, units)
    assert res.penalty == pytest.approx(12.0 * percent / 100)
    assert res.flag == (percent > 0)


def test_per_hour_and_zero_after():
    pol = LatePolicy.parse({"per": "hour", "percent": 2, "zero_after": "2d"})
    assert assess(at(hours=3, minutes=1), DUE, pol, 10.0).penalty == pytest.approx(0.8)    # 4 hours started
    res = assess(at(days=2, seconds=1), DUE, pol, 10.0)
    assert res.penalty == 10.0 and "0 points" in res.reason
    assert LatePolicy.parse("zero").kind == "zero" and assess(at(seconds=1), DUE, LatePolicy.parse("zero"),
                                                                  7.0).penalty == 7.0
    none = assess(at(days=3), DUE, LatePolicy.parse("none"), 7.0)
    assert none.penalty == 0 and none.flag and "flagged only" in none.reason


def test_extensions_move_the_due_date():
    ext = Extension("ann", "ps1", extra=2 * 86400, note="accommodation")
    res = assess(at(days=1, hours=12), DUE, TEN, 10.0, ext)
    assert res.penalty == 0 and not res.flag and "accommodation" in res.reason
    res = assess(at(days=2, hours=1), DUE, TEN, 10.0, ext)      # 1 h after the extended due date
    assert res.percent == 10 and res.penalty == pytest.approx(1.0)
    new_due = Extension("ann", "ps1", due=DUE + timedelta(hours=6))
    assert assess(at(hours=5), DUE, TEN, 10.0, new_due).penalty == 0


def test_late_days_are_spent_in_due_date_order_then_the_penalty_applies():
    """3 late days in the term: ps1 is 30 h late (2 days spent, no penalty), ps2 is 50 h late
    (1 day left: spent, the other 26 h cost 2 days started = 20 %), ps3 is 1 h late (no days left: 10 %)."""
    term = Term(policies={"ps1": TEN, "ps2": TEN, "ps3": TEN},
                due={"ps1": DUE, "ps2": DUE + timedelta(days=7), "ps3": DUE + timedelta(days=14)}, late_days=3)
    subs = [Submitted("ps3", "ann", DUE + timedelta(days=14, hours=1), 10.0),     # given in any order
            Submitted("ps1", "ann", DUE + timedelta(hours=30), 10.0),
            Submitted("ps2", "ann", DUE + timedelta(days=7, hours=50), 10.0)]
    res = penalties(term, subs)
    assert (res["ps1", "ann"].days_spent, res["ps1", "ann"].penalty, res["ps1", "ann"].days_left) == (2, 0.0, 1)
    assert (res["ps2", "ann"].days_spent, res["ps2", "ann"].units, res["ps2", "ann"].penalty) == (1, 2, 2.0)
    assert (res["ps3", "ann"].days_spent, res["ps3", "ann"].penalty) == (0, 1.0)
    assert "2 late days spent, 1 left" in res["ps1", "ann"].reason
    # another student's budget is their own
    other = penalties(term, [Submitted("ps2", "ben", DUE + timedelta(days=7, hours=50), 10.0)])
    assert other["ps2", "ben"].days_spent == 3 and other["ps2", "ben"].penalty == 0


def test_bad_settings_name_the_setting(tmp_path):
    with pytest.raises(ValueError, match="late_penalty.per must be"):
        LatePolicy.parse({"per": "week", "percent": 10})
    with pytest.raises(ValueError, match="unknown key.*percnt"):
        LatePolicy.parse({"percnt": 10})
    with pytest.raises(ValueError, match="between 0 and 100"):
        LatePolicy.parse({"percent": 150})
    with pytest.raises(ValueError, match="grace: cannot read 'soon'"):
        LatePolicy.parse({"percent": 10, "grace": "soon"})
    assert parse_duration("36h", "x") == 36 * 3600 and parse_duration("15m", "x") == 900
    bad = tmp_path / "ext.csv"
    bad.write_text("student,assignment,extension\nann,ps1,2d\nann,ps1,3d\n")
    with pytest.raises(ValueError, match="line 3: a second extension for ann on ps1"):
        read_extensions(bad)
    bad.write_text("who,what\n")
    with pytest.raises(ValueError, match="line 1 must be the header"):
        read_extensions(bad)
    bad.write_text("student,assignment,extension\nann,ps1,tomorrow\n")
    with pytest.raises(ValueError, match="line 2: cannot read 'tomorrow'"):
        read_extensions(bad)
