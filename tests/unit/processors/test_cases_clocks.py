"""Statutory clocks on the working-day calendar: every limit, holidays, make-up days, pauses, extensions, overrides.

Expected dates are worked out by hand from the State Council notices (comments show the count).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from processors.cases.calendar import TZ, Calendar, default_calendar, end_of_local_day, local_date
from processors.cases.rules import (
    PauseSpan,
    Rulebook,
    default_rulebook,
    evaluate,
    remaining_working_days,
)

CAL = default_calendar()
RULES = default_rulebook()
LIMITS = RULES.limits


def at(d: str, hour: int = 10) -> datetime:
    """A Shanghai local time on ISO day ``d``."""
    return datetime.combine(date.fromisoformat(d), time(hour), TZ)


# ---------------------------------------------------------------- the calendar
def test_national_day_2025_and_its_make_up_days():
    assert not any(CAL.is_working_day(date(2025, 10, d)) for d in range(1, 9))  # Oct 1-8 off
    assert CAL.is_working_day(date(2025, 9, 28))  # Sunday, make-up working day
    assert CAL.is_working_day(date(2025, 10, 11))  # Saturday, make-up working day
    assert not CAL.is_working_day(date(2025, 10, 12))  # ordinary Sunday
    assert CAL.is_working_day(date(2025, 10, 9))


def test_spring_festival_2026_and_make_up_saturdays():
    assert not any(CAL.is_working_day(date(2026, 2, d)) for d in range(15, 24))  # Feb 15-23 off
    assert CAL.is_working_day(date(2026, 2, 14)) and CAL.is_working_day(date(2026, 2, 28))
    assert CAL.is_working_day(date(2026, 2, 24))


def test_2027_is_present_but_marked_provisional_and_uncovered_years_fall_back_to_weekdays():
    assert CAL.covers(2025) and CAL.covers(2026) and CAL.covers(2027)
    assert 2027 in CAL.provisional_years and 2026 not in CAL.provisional_years
    assert not CAL.is_working_day(date(2027, 10, 4))
    assert not CAL.covers(2031)
    assert CAL.is_working_day(date(2031, 10, 1))  # a Wednesday: no data, Monday-Friday rule
    assert not CAL.is_working_day(date(2031, 10, 4))  # Saturday


def test_a_date_cannot_be_both_holiday_and_make_up_day():
    with pytest.raises(ValueError, match="both"):
        Calendar.from_dict({"years": {"2025": {"holidays": ["2025-10-11"], "workdays": ["2025-10-11"]}}})


def test_add_working_days_across_national_day():
    # From Fri 2025-09-26: Sep 28 (make-up Sun)=1, 29=2, 30=3, [Oct 1-8 off], 9=4, 10=5,
    # 11 (make-up Sat)=6, 13..17=7..11, 20..23=12..15.
    assert CAL.add_working_days(date(2025, 9, 26), 15) == date(2025, 10, 23)
    assert CAL.add_working_days(date(2025, 9, 26), 0) == date(2025, 9, 26)


def test_working_days_between_excludes_pause_days():
    assert CAL.working_days_between(date(2025, 9, 26), date(2025, 10, 23)) == 15
    pause = [(date(2025, 10, 13), date(2025, 10, 15))]  # Oct 13 and 14 excluded
    assert CAL.working_days_between(date(2025, 9, 26), date(2025, 10, 23), pause) == 13
    assert CAL.working_days_between(date(2025, 10, 23), date(2025, 9, 26)) == -15
    assert CAL.add_working_days(date(2025, 9, 26), 15, pause) == date(2025, 10, 27)


def test_local_day_boundaries_are_shanghai_time():
    late_utc = datetime(2025, 9, 30, 17, 0, tzinfo=TZ).astimezone(TZ)  # 17:00 local
    assert local_date(late_utc) == date(2025, 9, 30)
    assert local_date(datetime.fromisoformat("2025-09-30T17:00:00+00:00")) == date(2025, 10, 1)  # 01:00 local
    assert end_of_local_day(date(2025, 10, 23)) == datetime.fromisoformat("2025-10-23T16:00:00+00:00")


# ---------------------------------------------------------------- lead -> filing decision (15 working days, +15)
def test_filing_decision_15_working_days_over_the_holiday():
    v = evaluate("filing_decision", LIMITS["filing_decision"], at("2025-09-26"))
    assert v.state == "running" and v.due_date == date(2025, 10, 23)
    assert v.due_at == end_of_local_day(date(2025, 10, 23))
    # warn 3 working days before: Oct 22=1, 21=2, 20=3
    assert v.warn_at == datetime.combine(date(2025, 10, 20), time(0), TZ)


def test_filing_decision_extension_is_capped_at_15_working_days():
    # Oct 23 + 15: Oct 24=1, 27..31=2..6, Nov 3..7=7..11, 10..13=12..15
    v = evaluate("filing_decision", LIMITS["filing_decision"], at("2025-09-26"), extension_days=15)
    assert v.due_date == date(2025, 11, 13)
    capped = evaluate("filing_decision", LIMITS["filing_decision"], at("2025-09-26"), extension_days=40)
    assert capped.due_date == date(2025, 11, 13) and capped.extension_days == 15


def test_filing_decision_met_in_time_and_breached_late():
    lim = LIMITS["filing_decision"]
    assert evaluate("filing_decision", lim, at("2025-09-26"), stopped_at=at("2025-10-23", 23)).state == "met"
    assert evaluate("filing_decision", lim, at("2025-09-26"), stopped_at=at("2025-10-24", 9)).state == "breached"
    assert evaluate("filing_decision", lim, at("2025-09-26"), now=at("2025-10-24", 0)).state == "breached"
    assert evaluate("filing_decision", lim, at("2025-09-26"), now=at("2025-10-23", 23)).state == "running"


# ---------------------------------------------------------------- filing -> decision (90 days, +30, pauses excluded)
def test_decision_90_calendar_days():
    # Jun 10 + 90: Jun 30 is +20, Jul 31 +51, Aug 31 +82, Sep 8 +90 (a Monday).
    v = evaluate("decision", LIMITS["decision"], at("2025-06-10"))
    assert v.due_date == date(2025, 9, 8)
    assert v.warn_at == datetime.combine(date(2025, 8, 29), time(0), TZ)  # 10 days before


def test_decision_excludes_suspension_days():
    # Suspended Jul 1, resumed Jul 11: Jul 1..10 (10 days) do not count -> Sep 18.
    pause = PauseSpan("suspension", at("2025-07-01"), at("2025-07-11"))
    v = evaluate("decision", LIMITS["decision"], at("2025-06-10"), pauses=[pause])
    assert v.due_date == date(2025, 9, 18)


def test_decision_clock_pauses_during_suspension_and_hearing():
    open_suspension = PauseSpan("suspension", at("2025-07-01"), None)
    assert evaluate("decision", LIMITS["decision"], at("2025-06-10"), pauses=[open_suspension]).state == "paused"
    hearing = PauseSpan("hearing", at("2025-08-01"), None)
    paused = evaluate("decision", LIMITS["decision"], at("2025-06-10"), pauses=[hearing], now=at("2025-12-01"))
    assert paused.state == "paused" and paused.due_at is None  # no overdue while the hearing runs
    met = evaluate("decision", LIMITS["decision"], at("2025-06-10"), pauses=[hearing], stopped_at=at("2025-09-20"))
    assert met.state == "met"  # hearing Aug 1..Sep 19 excluded (50 days): due Oct 28


def test_decision_due_on_a_holiday_moves_to_the_next_working_day_and_extension_30():
    # Jul 4 + 90 = Oct 2 (National Day) -> Oct 9, first working day after Oct 1-8.
    assert evaluate("decision", LIMITS["decision"], at("2025-07-04")).due_date == date(2025, 10, 9)
    # Jun 10 + 90 + 30 = Oct 8 (holiday) -> Oct 9.
    v = evaluate("decision", LIMITS["decision"], at("2025-06-10"), extension_days=30)
    assert v.due_date == date(2025, 10, 9)


def test_pause_before_the_clock_started_does_not_count():
    old = PauseSpan("suspension", at("2025-05-01"), at("2025-05-20"))
    assert evaluate("decision", LIMITS["decision"], at("2025-06-10"), pauses=[old]).due_date == date(2025, 9, 8)


# ---------------------------------------------------------------- notice -> statement / hearing request (5 working days)
def test_statement_window_5_working_days_over_national_day():
    # Mon 2025-09-29: Sep 30=1, [Oct 1-8 off], Oct 9=2, 10=3, 11 (make-up Sat)=4, 13=5.
    lim = LIMITS["statement_window"]
    v = evaluate("statement_window", lim, at("2025-09-29"))
    assert v.due_date == date(2025, 10, 13) and v.warn_at is None
    assert evaluate("statement_window", lim, at("2025-09-29"), now=at("2025-10-14")).state == "expired"
    assert evaluate("statement_window", lim, at("2025-09-29"), stopped_at=at("2025-10-10")).state == "met"


# ---------------------------------------------------------------- decision -> fine paid (15 days)
def test_fine_payment_15_days_rolls_over_spring_festival():
    lim = LIMITS["fine_payment"]
    assert evaluate("fine_payment", lim, at("2026-02-10")).due_date == date(2026, 2, 25)
    # Feb 5 + 15 = Feb 20, inside Feb 15-23 off -> Tue Feb 24.
    assert evaluate("fine_payment", lim, at("2026-02-05")).due_date == date(2026, 2, 24)


# ---------------------------------------------------------------- decision -> publication (20 working days)
def test_publication_20_working_days_over_mid_autumn_and_national_day_2026():
    # Fri 2026-09-18: Sep 20 (make-up Sun)=1, 21..24=2..5, [Sep 25-27 off], 28..30=6..8, [Oct 1-7 off],
    # Oct 8=9, 9=10, 10 (make-up Sat)=11, 12..16=12..16, 19..22=17..20.
    v = evaluate("publication", LIMITS["publication"], at("2026-09-18"))
    assert v.due_date == date(2026, 10, 22)


def test_legal_review_10_working_days_over_labour_day_2026():
    # Thu 2026-04-30: [May 1-5 off], May 6=1, 7=2, 8=3, 9 (make-up Sat)=4, 11..15=5..9, 18=10.
    assert evaluate("legal_review", LIMITS["legal_review"], at("2026-04-30")).due_date == date(2026, 5, 18)


def test_remaining_working_days_count_down_and_go_negative():
    v = evaluate("filing_decision", LIMITS["filing_decision"], at("2025-09-26"))
    assert remaining_working_days(v, at("2025-10-20")) == 3
    assert remaining_working_days(v, at("2025-10-27")) == -2  # Oct 24 and 27 past the due date


# ---------------------------------------------------------------- data: enabled limits and department overrides
def test_default_limits_and_disabled_ones():
    assert set(RULES.for_department("330100SFJ")) == {"filing_decision", "decision", "statement_window",
                                                      "fine_payment"}
    assert "publication" in LIMITS and not LIMITS["publication"].enabled


def test_department_override_exact_code_beats_suffix():
    book = Rulebook.model_validate({
        "limits": {k: v.model_dump() for k, v in LIMITS.items()},
        "overrides": {"SCJG": {"decision": {"days": 60}, "publication": {"enabled": True}},
                      "330100SCJG": {"decision": {"days": 45}}},
    })
    assert book.for_department("330200SCJG")["decision"].days == 60
    assert "publication" in book.for_department("330200SCJG")
    assert book.for_department("330100SCJG")["decision"].days == 45
    assert book.for_department("330100SFJ")["decision"].days == 90
    # Jun 10 + 60 = Aug 9 (Saturday) -> Mon Aug 11
    assert evaluate("decision", book.for_department("330200SCJG")["decision"], at("2025-06-10")).due_date \
        == date(2025, 8, 11)


def test_shipped_override_changes_warning_only():
    lim = RULES.for_department("330000SCJG")["decision"]
    assert lim.days == 90 and lim.warn_before == 15
    v = evaluate("decision", lim, at("2025-06-10"))
    assert v.due_date == date(2025, 9, 8) and local_date(v.warn_at) == date(2025, 9, 8) - timedelta(days=15)


def test_limits_data_is_validated():
    with pytest.raises(ValidationError):
        Rulebook.model_validate({"limits": {"x": {**LIMITS["decision"].model_dump(), "dayz": 3}}})
    with pytest.raises(ValidationError, match="unknown limit"):
        Rulebook.model_validate({"limits": {"decision": LIMITS["decision"].model_dump()},
                                 "overrides": {"X": {"decison": {"days": 3}}}})
    with pytest.raises(ValidationError):
        Rulebook.model_validate({"limits": {"decision": LIMITS["decision"].model_dump()},
                                 "overrides": {"X": {"decision": {"rule_code": "z"}}}})
