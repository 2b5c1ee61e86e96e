"""Table-driven tests for the pure input parsers: claimwatch.parsing and the small parsers of claimwatch.ledger.

Every error case checks both the exception type (InputError) and that the one-line message tells the user
what went wrong or what is accepted.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest

from claimwatch.errors import InputError
from claimwatch.ledger import parse_claim_number, parse_kind, parse_list_filter, parse_outcome
from claimwatch.model import Kind, OutcomeValue
from claimwatch.parsing import (
    ESTIMATIVE_WORDS,
    MAX_TERM_LENGTH,
    WatchTerms,
    leading_probability,
    parse_date,
    parse_probability,
    parse_tags,
    parse_watch_terms,
)
from claimwatch.store import ClaimFilter

# --- helpers ---------------------------------------------------------------------------------

UTC = ZoneInfo("UTC")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def clock(iso: str) -> datetime:
    """A fixed, aware 'now' from an ISO timestamp such as '2026-03-02T09:30Z'."""
    now = datetime.fromisoformat(iso)
    assert now.tzinfo is not None, "test clocks must be aware"
    return now


MONDAY = clock("2026-03-02T09:30Z")  # Monday 2 March 2026, the same day everywhere from UTC-9 to UTC+14
SUNDAY_NIGHT_UTC = clock("2026-03-01T23:30Z")  # still Sunday 1 March in UTC/New York, Monday 2 March in Tokyo
WEDNESDAY = clock("2026-03-04T09:30Z")
MID_MONTH = clock("2026-03-15T09:30Z")
LAST_OF_JANUARY = clock("2026-01-31T09:30Z")


def day(iso: str) -> date:
    return date.fromisoformat(iso)


def case(*values: Any, id: str) -> Any:
    """One table row with a readable id."""
    return pytest.param(*values, id=id)


def assert_input_error(parse: Callable[..., Any], *args: Any, mentions: tuple[str, ...]) -> str:
    """`parse(*args)` raises InputError whose one-line message contains every string in `mentions`."""
    with pytest.raises(InputError) as raised:
        parse(*args)
    message = str(raised.value)
    assert "\n" not in message, f"message should be one line: {message!r}"
    for part in mentions:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# --- parse_probability -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        case("15%", 0.15, id="percent"),
        case("0.15", 0.15, id="fraction"),
        case("15", 0.15, id="bare-number-above-1-is-percent"),
        case("1", 1.0, id="bare-1-is-certainty"),
        case("1.", 1.0, id="bare-1-with-dot-is-certainty"),
        case("0", 0.0, id="bare-0"),
        case("100%", 1.0, id="100-percent"),
        case("100", 1.0, id="bare-100"),
        case("0%", 0.0, id="0-percent"),
        case("1%", 0.01, id="1-percent-is-not-certainty"),
        case("0.5%", 0.005, id="fractional-percent"),
        case("1.5", 0.015, id="bare-1.5-is-percent-as-documented"),
        case(" 50 % ", 0.5, id="spaces-around-and-before-percent"),
        case(".5", 0.5, id="leading-dot-fraction"),
        case("+5", 0.05, id="explicit-plus-sign"),
        case("33.3333333%", 0.333333, id="rounded-to-6-places"),
        case("Likely", 0.675, id="phrase-capitalised"),
        case("  very likely  ", 0.875, id="phrase-padded"),
        case("Very  Likely", 0.875, id="phrase-double-space-and-case"),
        case("ALMOST\tCERTAIN", 0.97, id="phrase-tab-and-upper"),
        case("roughly even chance", 0.5, id="phrase-roughly-even-chance"),
        case("0,7", 0.7, id="decimal-comma"),
        case("12,5%", 0.125, id="decimal-comma-percent"),
        case("highly likely", 0.875, id="highly-likely"),
    ],
)
def test_parse_probability_reads(text: str, expected: float) -> None:
    assert parse_probability(text) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("phrase", "expected"), [case(p, v, id=p) for p, v in ESTIMATIVE_WORDS.items()])
def test_parse_probability_reads_every_estimative_phrase(phrase: str, expected: float) -> None:
    assert parse_probability(phrase) == expected
    assert parse_probability(phrase.upper()) == expected
    assert parse_probability("  " + phrase.replace(" ", "   ") + " ") == expected


# ICD 203 ranges (percent) for each phrase the code knows; every key of ESTIMATIVE_WORDS must appear here.
ICD_203_RANGES: dict[str, tuple[int, int]] = {
    "almost no chance": (1, 5),
    "remote": (1, 5),
    "very unlikely": (5, 20),
    "highly unlikely": (5, 20),
    "highly improbable": (5, 20),
    "unlikely": (20, 45),
    "improbable": (20, 45),
    "roughly even chance": (45, 55),
    "roughly even odds": (45, 55),
    "even chance": (45, 55),
    "likely": (55, 80),
    "probable": (55, 80),
    "very likely": (80, 95),
    "highly likely": (80, 95),
    "highly probable": (80, 95),
    "almost certain": (95, 99),
    "almost certainly": (95, 99),
    "nearly certain": (95, 99),
}


def test_every_estimative_phrase_has_a_documented_icd_203_range() -> None:
    assert set(ESTIMATIVE_WORDS) == set(ICD_203_RANGES)


@pytest.mark.parametrize(("phrase", "bounds"), [case(p, r, id=p) for p, r in ICD_203_RANGES.items()])
def test_estimative_phrase_value_lies_in_its_icd_203_range(phrase: str, bounds: tuple[int, int]) -> None:
    low, high = bounds
    assert low / 100 <= ESTIMATIVE_WORDS[phrase] <= high / 100


_NOT_A_PROBABILITY = "is not a probability"
_OUT_OF_RANGE = "is outside 0-100%"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        case("150%", _OUT_OF_RANGE, id="over-100-percent"),
        case("101", _OUT_OF_RANGE, id="bare-101"),
        case("-1", _OUT_OF_RANGE, id="negative"),
        case("-0.5%", _OUT_OF_RANGE, id="negative-percent"),
        case("abc", _NOT_A_PROBABILITY, id="word"),
        case("", _NOT_A_PROBABILITY, id="empty"),
        case("   ", _NOT_A_PROBABILITY, id="blank"),
        case("nan", _NOT_A_PROBABILITY, id="nan"),
        case("inf", _NOT_A_PROBABILITY, id="inf"),
        case("1e5", _NOT_A_PROBABILITY, id="exponent"),
        case("50%%", _NOT_A_PROBABILITY, id="double-percent"),
        case("%", _NOT_A_PROBABILITY, id="percent-sign-only"),
        case("% 50", _NOT_A_PROBABILITY, id="percent-before-number"),
        case("5 0", _NOT_A_PROBABILITY, id="space-inside-number"),
        case("1_0", _NOT_A_PROBABILITY, id="underscore-digit-separator"),
        case("0,5,1", _NOT_A_PROBABILITY, id="two-decimal-commas"),
        case("1,000", _NOT_A_PROBABILITY, id="thousands-comma-is-ambiguous"),
        case("likely.", _NOT_A_PROBABILITY, id="phrase-with-punctuation"),
        case("very very likely", _NOT_A_PROBABILITY, id="unknown-phrase"),
    ],
)
def test_parse_probability_rejects(text: str, reason: str) -> None:
    message = assert_input_error(parse_probability, text, mentions=(reason, "15%", "0.15", "'likely'"))
    assert repr(text.strip()) in message  # echoes what was typed


@pytest.mark.parametrize(("words", "expected"), [
    (["very", "likely"], (0.875, 2)),
    (["almost", "certain", "because", "talks"], (0.97, 2)),
    (["roughly", "even", "chance"], (0.5, 3)),
    (["likely", "enough"], (0.675, 1)),
    (["70", "%", "why"], (0.7, 2)),
    (["very likely", "why"], (0.875, 1)),  # quoted as one argument on the command line
])
def test_leading_probability_takes_the_longest_phrase(words: list[str], expected: tuple[float, int]) -> None:
    assert leading_probability(words) == expected


def test_leading_probability_names_the_word_that_is_not_one() -> None:
    assert_input_error(leading_probability, ["very", "maybe"], mentions=("'very' is not a probability",))


# --- parse_date ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "now", "tz", "expected"),
    [
        # ISO dates ignore the clock, including past dates
        case("2026-06-30", MONDAY, UTC, day("2026-06-30"), id="iso"),
        case("  2026-06-30 ", MONDAY, UTC, day("2026-06-30"), id="iso-padded"),
        case("by 2026-06-30", MONDAY, UTC, day("2026-06-30"), id="by-iso"),
        case("20260630", MONDAY, UTC, day("2026-06-30"), id="iso-basic-format"),
        case("2020-01-01", MONDAY, UTC, day("2020-01-01"), id="iso-in-the-past"),
        # relative days and weeks
        case("today", MONDAY, UTC, day("2026-03-02"), id="today"),
        case("tomorrow", MONDAY, UTC, day("2026-03-03"), id="tomorrow"),
        case("Tomorrow", MONDAY, TOKYO, day("2026-03-03"), id="tomorrow-same-day-everywhere"),
        case("in 2 weeks", MONDAY, UTC, day("2026-03-16"), id="in-2-weeks"),
        case("in 10 days", MONDAY, UTC, day("2026-03-12"), id="in-10-days"),
        case("next Friday", MONDAY, UTC, day("2026-03-13"), id="next-friday-is-in-next-week"),
        case("next Friday", WEDNESDAY, UTC, day("2026-03-13"), id="next-friday-on-a-wednesday"),
        case("Friday", WEDNESDAY, UTC, day("2026-03-06"), id="friday-is-the-coming-one"),
        case("by Friday", MONDAY, UTC, day("2026-03-06"), id="by-friday"),
        case("next week", WEDNESDAY, UTC, day("2026-03-09"), id="next-week-is-its-monday"),
        case("next month", WEDNESDAY, UTC, day("2026-04-01"), id="next-month-is-its-first-day"),
        case("next year", WEDNESDAY, UTC, day("2027-01-01"), id="next-year-is-its-first-day"),
        case("next month", clock("2026-12-31T12:00Z"), UTC, day("2027-01-01"), id="next-month-in-december"),
        # quarters and halves: their first day; 'end of' one: its last; without a year, the next one
        case("Q2 2027", MONDAY, UTC, day("2027-04-01"), id="quarter-and-year"),
        case("2027-Q2", MONDAY, UTC, day("2027-04-01"), id="year-dash-quarter"),
        case("q1", MONDAY, UTC, day("2027-01-01"), id="quarter-begun-is-next-years"),
        case("end of Q1", MONDAY, UTC, day("2026-03-31"), id="end-of-this-quarter"),
        case("end of Q4 2027", MONDAY, UTC, day("2027-12-31"), id="end-of-q4"),
        case("H2 2027", MONDAY, UTC, day("2027-07-01"), id="half"),
        case("end of H1", MONDAY, UTC, day("2026-06-30"), id="end-of-half"),
        case("mid-2027", MONDAY, UTC, day("2027-07-01"), id="mid-year"),
        case("mid-June", MONDAY, UTC, day("2026-06-15"), id="mid-month"),
        case("middle of June 2027", MONDAY, UTC, day("2027-06-15"), id="middle-of-month-and-year"),
        # numeric dates are day first; one reading only
        case("31/12/2026", MONDAY, UTC, day("2026-12-31"), id="day-first-slashes"),
        case("30.06.2026", MONDAY, UTC, day("2026-06-30"), id="day-first-dots"),
        case("5/5/2026", MONDAY, UTC, day("2026-05-05"), id="same-either-way"),
        case("12/31/2026", MONDAY, UTC, day("2026-12-31"), id="month-first-when-it-is-the-only-reading"),
        case("2026/06/30", MONDAY, UTC, day("2026-06-30"), id="year-first-slashes"),
        # Russian and Chinese forms
        case("конец 2027", MONDAY, UTC, day("2027-12-31"), id="ru-end-of-year"),
        case("до конца 2027 года", MONDAY, UTC, day("2027-12-31"), id="ru-by-the-end-of-year"),
        case("к концу июня", MONDAY, UTC, day("2026-06-30"), id="ru-by-end-of-june"),
        case("середина 2027", MONDAY, UTC, day("2027-07-01"), id="ru-mid-year"),
        case("2027年6月", MONDAY, UTC, day("2027-06-01"), id="zh-month"),
        case("2027年6月30日", MONDAY, UTC, day("2027-06-30"), id="zh-day"),
        case("2027年6月底", MONDAY, UTC, day("2027-06-30"), id="zh-end-of-month"),
        case("2027年底", MONDAY, UTC, day("2027-12-31"), id="zh-end-of-year"),
        case("Monday", MONDAY, UTC, day("2026-03-09"), id="weekday-today-means-next-week"),
        case("next Monday", MONDAY, UTC, day("2026-03-09"), id="next-monday-on-a-monday"),
        # the time zone decides what 'today' is
        case("today", SUNDAY_NIGHT_UTC, UTC, day("2026-03-01"), id="today-late-sunday-utc"),
        case("today", SUNDAY_NIGHT_UTC, TOKYO, day("2026-03-02"), id="today-already-monday-in-tokyo"),
        case("tomorrow", SUNDAY_NIGHT_UTC, UTC, day("2026-03-02"), id="tomorrow-late-sunday-utc"),
        case("tomorrow", SUNDAY_NIGHT_UTC, NEW_YORK, day("2026-03-02"), id="tomorrow-sunday-evening-new-york"),
        case("tomorrow", SUNDAY_NIGHT_UTC, TOKYO, day("2026-03-03"), id="tomorrow-already-monday-in-tokyo"),
        case("in 2 weeks", SUNDAY_NIGHT_UTC, UTC, day("2026-03-15"), id="in-2-weeks-late-sunday-utc"),
        case("in 2 weeks", SUNDAY_NIGHT_UTC, TOKYO, day("2026-03-16"), id="in-2-weeks-tokyo"),
        case("end of month", clock("2026-02-28T20:00Z"), UTC, day("2026-02-28"), id="end-of-month-feb-in-utc"),
        case("end of month", clock("2026-02-28T20:00Z"), TOKYO, day("2026-03-31"), id="end-of-month-march-in-tokyo"),
        case("end of the year", clock("2026-12-31T20:00Z"), UTC, day("2026-12-31"), id="end-of-year-utc-new-years-eve"),
        case("end of the year", clock("2026-12-31T20:00Z"), TOKYO, day("2027-12-31"), id="end-of-year-tokyo-new-year"),
        # months look forward, to their first day
        case("June", MONDAY, UTC, day("2026-06-01"), id="month-name-is-its-first-day"),
        case("february", MONDAY, UTC, day("2027-02-01"), id="past-month-name-is-next-year"),
        case("June 2027", MONDAY, UTC, day("2027-06-01"), id="month-and-year"),
        case("1 July", MONDAY, UTC, day("2026-07-01"), id="day-month"),
        case("July 1", MONDAY, UTC, day("2026-07-01"), id="month-day"),
        case("15 June 2026", MONDAY, UTC, day("2026-06-15"), id="day-month-year"),
        # 'end of X' is X's last day
        case("end of June", MONDAY, UTC, day("2026-06-30"), id="end-of-june"),
        case("by end of June", MONDAY, UTC, day("2026-06-30"), id="by-end-of-june"),
        case("By the  end of JUNE", MONDAY, UTC, day("2026-06-30"), id="by-the-end-of-june-case-and-spaces"),
        case("end of March", MONDAY, UTC, day("2026-03-31"), id="end-of-current-month-by-name"),
        case("end of February", MONDAY, UTC, day("2027-02-28"), id="end-of-past-month-is-next-year"),
        case("end of February 2028", MONDAY, UTC, day("2028-02-29"), id="end-of-february-leap-year"),
        case("end of month", MONDAY, UTC, day("2026-03-31"), id="end-of-month"),
        case("end of the month", MONDAY, UTC, day("2026-03-31"), id="end-of-the-month"),
        case("end of this month", MONDAY, UTC, day("2026-03-31"), id="end-of-this-month"),
        case("end of next month", MONDAY, UTC, day("2026-04-30"), id="end-of-next-month"),
        case("end of the year", MONDAY, UTC, day("2026-12-31"), id="end-of-the-year"),
        case("end of year", MONDAY, UTC, day("2026-12-31"), id="end-of-year"),
        case("end of next year", MONDAY, UTC, day("2027-12-31"), id="end-of-next-year"),
        case("end of 2027", MONDAY, UTC, day("2027-12-31"), id="end-of-2027"),
        # Russian (dateparser with languages en, ru)
        case("завтра", MONDAY, UTC, day("2026-03-03"), id="ru-tomorrow"),
        case("через 2 недели", MONDAY, UTC, day("2026-03-16"), id="ru-in-2-weeks"),
        case("15 июня", MONDAY, UTC, day("2026-06-15"), id="ru-15-june"),
        case("июнь", MONDAY, UTC, day("2026-06-01"), id="ru-june"),
        # 'in N months/years' should keep the day of the month; the code snaps to the 1st
        case("in 3 months", MONDAY, UTC, day("2026-06-02"), id="in-3-months"),
        case("in 3 months", MID_MONTH, UTC, day("2026-06-15"), id="in-3-months-mid-month"),
        case("in a year", LAST_OF_JANUARY, UTC, day("2027-01-31"), id="in-a-year-from-31-jan"),
        case("in 1 month", LAST_OF_JANUARY, UTC, day("2026-02-28"), id="in-1-month-from-31-jan"),
        case("через 3 месяца", MONDAY, UTC, day("2026-06-02"), id="ru-in-3-months"),
        # 'end of' a week
        case("end of this week", MONDAY, UTC, day("2026-03-08"), id="end-of-this-week"),
        case("end of next week", MONDAY, UTC, day("2026-03-15"), id="end-of-next-week"),
    ],
)
def test_parse_date_reads(text: str, now: datetime, tz: ZoneInfo, expected: date) -> None:
    assert parse_date(text, now, tz) == expected


_DATE_HELP_MARKS = ("ISO date", "in 3 months", "end of June")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        case("", "no date given", id="empty"),
        case("   ", "no date given", id="blank"),
        case("abc", "cannot read 'abc' as a date", id="word"),
        case("someday", "cannot read 'someday' as a date", id="someday"),
        case("soon", "cannot read 'soon' as a date", id="soon"),
        case("by", "cannot read 'by' as a date", id="by-alone"),
        case("end of", "cannot read 'end of' as a date", id="end-of-alone"),
        case("end of abc", "cannot read 'end of abc' as a date", id="end-of-nonsense"),
        case("2024-13-01", "'2024-13-01' is not a valid date", id="month-13-not-swapped"),
        case("2026-02-30", "'2026-02-30' is not a valid date", id="february-30-iso"),
        case("2026/06/31", "'2026/06/31' is not a valid date", id="year-first-slashes-bad-day"),
        case("31.02.2026", "'31.02.2026' is not a valid date", id="dotted-february-31"),
        case("01/02/2027", "'01/02/2027' could be 1 February or 2 January 2027: write it as an ISO date "
             "(2027-02-01 or 2027-01-02)", id="ambiguous-day-month"),
        case("H3 2027", "a year has halves H1 and H2", id="third-half"),
        case("Q2 2027 2028", "cannot read 'Q2 2027 2028' as a date", id="quarter-two-years"),
        case("mid-soon", "cannot read 'mid-soon' as a date", id="mid-nonsense"),
        case("2027年", "cannot read '2027年' as a date", id="zh-year-alone"),
        case("2027年2月30日", "'2027年2月30日' is not a valid date", id="zh-february-30"),
        case("2026-06", "'2026-06' is not a valid date", id="year-month-only"),
        case("2027", "'2027' is not a valid date", id="bare-year"),
        case("15", "'15' is not a valid date", id="bare-number"),
        case("31 June", "cannot read '31 June' as a date", id="31-june"),
        case("June 31", "cannot read 'June 31' as a date", id="june-31"),
        case("Feb 30", "cannot read 'Feb 30' as a date", id="feb-30"),
        # not clearly a date, yet dateparser guesses one (the docstring promises "an error, never a guess")
        case("a", "cannot read 'a' as a date", id="single-letter"),
        case("in 3", "cannot read 'in 3' as a date", id="number-without-unit"),
        case("% 50", "cannot read '% 50' as a date", id="percent-garbage"),
        case("10:00", "cannot read '10:00' as a date", id="time-of-day-only"),
        case("end of 15", "cannot read 'end of 15' as a date", id="end-of-bare-number"),
        case("end of 0099", "cannot read 'end of 0099' as a date", id="end-of-ancient-year"),
    ],
)
def test_parse_date_rejects(text: str, reason: str) -> None:
    assert_input_error(parse_date, text, MONDAY, UTC, mentions=(reason, *_DATE_HELP_MARKS))


# --- parse_watch_terms -----------------------------------------------------------------------


def watch(alternatives: tuple[str, ...] = (), required: tuple[str, ...] = (),
          excluded: tuple[str, ...] = ()) -> WatchTerms:
    return WatchTerms(alternatives, required, excluded)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        case("gas", watch(("gas",)), id="single"),
        case("a, b ,c", watch(("a", "b", "c")), id="alternatives"),
        case('"x, y", z', watch(("x, y", "z")), id="quoted-phrase-with-comma"),
        case('"  spaced   quoted "', watch(("spaced quoted",)), id="quoted-whitespace-collapsed"),
        case("  power   of\tsiberia  ", watch(("power of siberia",)), id="whitespace-collapsed"),
        case("+gas, pipeline", watch(("pipeline",), ("gas",)), id="required"),
        case("+ gas, x", watch(("x",), ("gas",)), id="required-space-after-plus"),
        case("pipe, -football", watch(("pipe",), (), ("football",)), id="excluded"),
        case('+"gas, oil", pipe', watch(("pipe",), ("gas, oil",)), id="quoted-required"),
        case('-"foot, ball", pipe', watch(("pipe",), (), ("foot, ball",)), id="quoted-excluded"),
        case("+gas", watch((), ("gas",)), id="required-only-is-enough"),
        case('"+x"', watch(("+x",)), id="quoted-plus-is-literal"),
        case('+"-x"', watch((), ("-x",)), id="required-term-starting-with-minus-quoted"),
        case('Power of Siberia 2, "Сила Сибири 2", +gas, -football',
             watch(("Power of Siberia 2", "Сила Сибири 2"), ("gas",), ("football",)), id="docstring-example"),
        case("газ, 天然气, 西伯利亚力量", watch(("газ", "天然气", "西伯利亚力量")), id="cyrillic-and-chinese"),
        case("Gas, gas, GAS", watch(("Gas",)), id="duplicates-ignore-case-first-kept"),
        case("Газ, ГАЗ", watch(("Газ",)), id="cyrillic-duplicates-ignore-case"),
        case("power  of siberia, Power of Siberia", watch(("power of siberia",)), id="duplicates-after-collapse"),
        case("+x, +X, -y, -Y", watch((), ("x",), ("y",)), id="duplicates-within-sign-groups"),
        case("x" * MAX_TERM_LENGTH, watch(("x" * MAX_TERM_LENGTH,)), id="term-at-length-limit"),
        case(["gas", '+"gas, oil"', "-football"], watch(("gas",), ("gas, oil",), ("football",)), id="list-stored-form"),
        case(["a,b"], watch(("a,b",)), id="list-items-not-split-on-comma"),
        case(("x", "+ y"), watch(("x",), ("y",)), id="tuple-form"),
        case(["a", "A"], watch(("a",)), id="list-duplicates-dropped"),
    ],
)
def test_parse_watch_terms_reads(text: str | list[str], expected: WatchTerms) -> None:
    assert parse_watch_terms(text) == expected


_EMPTY_TERM = "empty watch term"
_WATCH_HELP_MARKS = ('"quote"', "+term is required", "-term excludes")


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        case("", ("no watch terms given", *_WATCH_HELP_MARKS), id="empty"),
        case('""', ("no watch terms given", *_WATCH_HELP_MARKS), id="empty-quotes"),
        case([], ("no watch terms given", *_WATCH_HELP_MARKS), id="empty-list"),
        case(",", (_EMPTY_TERM, *_WATCH_HELP_MARKS), id="comma-only"),
        case("a,,b", (_EMPTY_TERM, *_WATCH_HELP_MARKS), id="double-comma"),
        case("a, b,", (_EMPTY_TERM, *_WATCH_HELP_MARKS), id="trailing-comma"),
        case('a, ""', (_EMPTY_TERM, *_WATCH_HELP_MARKS), id="empty-quoted-term"),
        case([""], (_EMPTY_TERM, *_WATCH_HELP_MARKS), id="list-with-empty-term"),
        case("+", ("empty watch term after '+'", *_WATCH_HELP_MARKS), id="plus-alone"),
        case("a, -", ("empty watch term after '-'", *_WATCH_HELP_MARKS), id="minus-alone"),
        case("-x", ("not only exclusions", *_WATCH_HELP_MARKS), id="only-exclusion"),
        case("-x, -y", ("not only exclusions", *_WATCH_HELP_MARKS), id="only-exclusions"),
        case(["-x"], ("not only exclusions", *_WATCH_HELP_MARKS), id="list-only-exclusion"),
        case('a, "b', ("unbalanced quote", *_WATCH_HELP_MARKS), id="unbalanced-quote"),
        case(['"b'], ("unbalanced quote", *_WATCH_HELP_MARKS), id="list-unbalanced-quote"),
        case('ab"c"d', ("a quote may only surround a whole watch term", "'ab\"c\"d'"), id="quote-inside-word"),
        case('"ab"c', ("a quote may only surround a whole watch term",), id="quote-then-text"),
        case("x" * (MAX_TERM_LENGTH + 1), (f"longer than {MAX_TERM_LENGTH} characters", "x" * 20), id="term-too-long"),
        case("+" + "ж" * (MAX_TERM_LENGTH + 1), (f"longer than {MAX_TERM_LENGTH} characters",), id="required-too-long"),
        case('"a"b"c"', ("a quote may only surround a whole watch term",), id="quote-inside-quoted-term"),
        case("gas, -gas", ("'gas' is given twice with different meanings",), id="looked-for-and-excluded"),
        case("gas, +GAS", ("'GAS' is given twice with different meanings",), id="plain-and-required"),
        case("gas, ???", ("'???' has no letters or digits, so it could never match",), id="punctuation-only"),
        case(["gas", "-—"], ("'—' has no letters or digits",), id="list-excluded-dash"),
    ],
)
def test_parse_watch_terms_rejects(text: str | list[str], mentions: tuple[str, ...]) -> None:
    assert_input_error(parse_watch_terms, text, mentions=mentions)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        case("x, +y, -z", ("x", "+y", "-z"), id="plain"),
        case("-z, +y, x", ("x", "+y", "-z"), id="grouped-alternatives-first"),
        case('+"gas, oil", -"foot, ball", pipe', ("pipe", '+"gas, oil"', '-"foot, ball"'), id="commas-quoted"),
        case('+"+y", -"-z", x', ("x", '+"+y"', '-"-z"'), id="leading-sign-quoted"),
    ],
)
def test_watch_terms_stored_form(text: str, stored: tuple[str, ...]) -> None:
    assert parse_watch_terms(text).terms() == stored


@pytest.mark.parametrize(
    "text",
    [
        case("a, b", id="alternatives"),
        case("x, +y, -z", id="all-groups"),
        case('+"gas, oil", pipe, -"-x", +"+y"', id="quoted-signs-and-commas"),
        case('"a,b", c', id="alternative-with-comma"),
        case("газ, +天然气, -футбол", id="non-latin"),
        case('"-x", a', id="alternative-starting-with-minus"),
        case('"+x"', id="alternative-starting-with-plus"),
    ],
)
def test_watch_terms_round_trip_through_stored_form(text: str) -> None:
    terms = parse_watch_terms(text)
    assert parse_watch_terms(list(terms.terms())) == terms


# --- parse_tags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        case("Energy, #china power-of-siberia", ("energy", "china", "power-of-siberia"), id="docstring-example"),
        case("Газ, #Энергетика", ("газ", "энергетика"), id="cyrillic-lowered"),
        case("天然气", ("天然气",), id="chinese"),
        case("snake_case, v2", ("snake_case", "v2"), id="underscore-and-digits"),
        case("a a A #a", ("a",), id="duplicates-dropped"),
        case("b,a,,b", ("b", "a"), id="order-kept-empty-items-skipped"),
        case("a\tb\nc", ("a", "b", "c"), id="any-whitespace-separates"),
        case("x" * 40, ("x" * 40,), id="40-chars"),
        case("", (), id="empty-is-no-tags"),
        case(["Energy", "#china"], ("energy", "china"), id="list-form"),
        case(["#x", "X"], ("x",), id="list-duplicates-dropped"),
    ],
)
def test_parse_tags_reads(text: str | list[str], expected: tuple[str, ...]) -> None:
    assert parse_tags(text) == expected


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        case("a/b", "a/b", id="slash"),
        case("ok a.b", "a.b", id="dot"),
        case("x" * 41, "x" * 41, id="41-chars"),
        case("#", "#", id="hash-only"),
        case("##a", "##a", id="double-hash"),
        case("#a#b", "#a#b", id="hash-inside"),
        case(["a b"], "a b", id="list-item-with-space"),
        case([""], "", id="list-empty-item"),
        case("-", "-", id="dash-only"),
        case("#_", "#_", id="underscore-only"),
    ],
)
def test_parse_tags_rejects(text: str | list[str], bad: str) -> None:
    assert_input_error(parse_tags, text, mentions=(f"{bad!r} is not a tag", "letters, digits", "at most 40 characters"))


def test_parse_tags_accepts_turkish_capital_dotted_i() -> None:
    (tag,) = parse_tags("İstanbul")
    assert tag.endswith("stanbul")


# --- ledger: outcome, kind, claim number -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        case("true", OutcomeValue.TRUE, id="true"),
        case("TRUE", OutcomeValue.TRUE, id="true-upper"),
        case(" Yes ", OutcomeValue.TRUE, id="yes-padded"),
        case("false", OutcomeValue.FALSE, id="false"),
        case("No", OutcomeValue.FALSE, id="no"),
        case("partial", OutcomeValue.PARTIAL, id="partial"),
        case("Void", OutcomeValue.VOID, id="void"),
    ],
)
def test_parse_outcome_reads(text: str, expected: OutcomeValue) -> None:
    assert parse_outcome(text) is expected


@pytest.mark.parametrize("text", [case(t, id=t or "empty") for t in ("maybe", "", "t", "1", "truth", "y")])
def test_parse_outcome_rejects(text: str) -> None:
    assert_input_error(parse_outcome, text, mentions=(f"{text!r} is not an outcome", "true, false, partial or void", "yes/no"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        case("claim", Kind.CLAIM, id="claim"),
        case(" CLAIM ", Kind.CLAIM, id="claim-upper-padded"),
        case("Forecast", Kind.FORECAST, id="forecast"),
    ],
)
def test_parse_kind_reads(text: str, expected: Kind) -> None:
    assert parse_kind(text) is expected


@pytest.mark.parametrize("text", [case(t, id=t or "empty") for t in ("fact", "claims", "", "prediction")])
def test_parse_kind_rejects(text: str) -> None:
    assert_input_error(parse_kind, text, mentions=(f"{text!r} is not a kind", "claim", "forecast"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        case("3", 3, id="plain"),
        case("#3", 3, id="hash"),
        case(" #12 ", 12, id="hash-padded"),
        case("03", 3, id="leading-zero"),
        case("1000000", 1_000_000, id="large"),
    ],
)
def test_parse_claim_number_reads(text: str, expected: int) -> None:
    assert parse_claim_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        case("0", id="zero"),
        case("#0", id="hash-zero"),
        case("-1", id="negative"),
        case("+3", id="plus-sign"),
        case("x", id="letter"),
        case("3.5", id="decimal"),
        case("1e3", id="exponent"),
        case("##3", id="double-hash"),
        case("# 3", id="space-after-hash"),
        case("³", id="superscript-digit"),
    ],
)
def test_parse_claim_number_rejects(text: str) -> None:
    assert_input_error(parse_claim_number, text, mentions=(f"{text.strip()!r} is not a claim number", "#n"))


@pytest.mark.parametrize("text", ["", " ", "#"])
def test_parse_claim_number_asks_for_one_when_none_is_given(text: str) -> None:
    assert_input_error(parse_claim_number, text, mentions=("say which claim", "#n"))


# --- ledger: list filter ---------------------------------------------------------------------

TODAY = day("2026-03-02")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        case([], ClaimFilter(status="open"), id="default-open"),
        case(["open"], ClaimFilter(status="open"), id="open"),
        case(["due"], ClaimFilter(status="open", due_by=TODAY), id="due-is-open-and-due-today"),
        case(["DUE"], ClaimFilter(status="open", due_by=TODAY), id="due-upper"),
        case(["all", "due"], ClaimFilter(status="open", due_by=TODAY), id="due-means-open-even-after-all"),
        case(["resolved"], ClaimFilter(status="resolved"), id="resolved"),
        case(["all"], ClaimFilter(status=None), id="all"),
        case(["#Energy"], ClaimFilter(status="open", tag="energy"), id="tag-lowered-still-open"),
        case(["#"], ClaimFilter(status=None, words=("#",)), id="lone-hash-is-a-word"),
        case(["gas"], ClaimFilter(status=None, words=("gas",)), id="words-search-all-claims"),
        case(["gas", "Pipe"], ClaimFilter(status=None, words=("gas", "Pipe")), id="words-kept-as-typed"),
        case(["open", "gas"], ClaimFilter(status="open", words=("gas",)), id="open-then-words"),
        case(["gas", "Open"], ClaimFilter(status="open", words=("gas",)), id="words-then-open"),
        case(["resolved", "gas"], ClaimFilter(status="resolved", words=("gas",)), id="resolved-with-words"),
        case(["all", "gas"], ClaimFilter(status=None, words=("gas",)), id="all-with-words"),
        case(["#energy", "gas"], ClaimFilter(status=None, tag="energy", words=("gas",)), id="tag-and-words"),
    ],
)
def test_parse_list_filter(words: list[str], expected: ClaimFilter) -> None:
    assert parse_list_filter(words, TODAY) == expected


def _doc(outcome: str | None, review_date: str | None, text: str = "gas pipeline") -> dict[str, Any]:
    """The least of a stored claim that ClaimFilter.matches reads."""
    return {"outcome": outcome, "review_date": review_date, "tags": [], "text": text, "source": {"title": ""}, "id": None}


@pytest.mark.parametrize(
    ("doc", "listed"),
    [
        case(_doc(None, "2026-03-01"), True, id="open-overdue"),
        case(_doc(None, "2026-03-02"), True, id="open-due-today"),
        case(_doc(None, "2026-03-03"), False, id="open-due-tomorrow"),
        case(_doc(None, None), False, id="open-without-review-date"),
        case(_doc("true", "2026-03-01"), False, id="resolved-overdue"),
        case(_doc(None, "2026-03-01", text="oil"), False, id="open-overdue-other-words"),
    ],
)
def test_due_with_words_lists_only_open_due_claims_with_those_words(doc: dict[str, Any], listed: bool) -> None:
    assert parse_list_filter(["due", "gas"], TODAY).matches(doc) is listed


@pytest.mark.parametrize(
    ("word", "text", "listed"),
    [
        case("EU", "EU extends sanctions", True, id="whole-word"),
        case("EU", "China stays neutral", False, id="not-inside-a-word"),
        case("eu", "The EU's new package", True, id="case-and-apostrophe"),
        case("siberia", "Power-of-Siberia-2 stalls", True, id="between-hyphens"),
        case("Сибири", "Сила Сибири 2", True, id="cyrillic-word"),
        case("Сибир", "Сила Сибири 2", False, id="cyrillic-part-of-a-word"),
        case("西伯利亚", "西伯利亚力量2号管道", True, id="chinese-anywhere"),
        case("России", "Россия не приедет на саммит", True, id="russian-any-form"),
        case("Силой", "строительство Силы Сибири", True, id="russian-typed-inflected"),
        case("ёлка", "у новогодней елки", True, id="yo-as-ye"),
        case("Путин", "путинизм", False, id="russian-not-another-word"),
        case("agreement", "Two agreements signed", True, id="english-plural"),
        case("signed", "Beijing signs the deal", True, id="english-lemma"),
        case("signed", "A signal from Beijing", False, id="english-not-another-lemma"),
        case("Kazakh", "Kazakhstan joins", False, id="english-whole-word"),
        case("went", "Putin goes to Beijing", True, id="english-irregular"),
        case("Fed", "Feeds grow", False, id="english-name-as-written"),
        case("Fed", "the fed raised rates", True, id="english-name-any-case"),
        case("Газа", "поставки газом", False, id="russian-name-not-a-common-word"),
        case("Путина", "Путин заявил", True, id="russian-name-typed-inflected"),
        case("O’Brien", "O'Brien said", True, id="apostrophes-alike"),
        case("don't", "they don’t", True, id="apostrophes-alike-in-the-text"),
        case("'s", "Putin's visit", False, id="no-plain-word-as-typed"),
        case("беларус*", "беларусский", True, id="prefix"),
        case("=Путин", "Путина", False, id="this-form-only"),
        case("went", "Good news from Beijing", False, id="english-irregular-not-another-lemma"),
        case("2027", "by 20270", False, id="number-exact"),
    ],
)
def test_list_words_match_whole_words(word: str, text: str, listed: bool) -> None:
    assert parse_list_filter([word], TODAY).matches(_doc(None, None, text=text)) is listed


def test_list_at_analyst_keeps_the_claims_they_forecast() -> None:
    where = parse_list_filter(["@alice"], TODAY)
    assert where == ClaimFilter(status=None, forecaster="alice")
    assert where.matches(_doc(None, None) | {"forecasts": [{"by": "alice"}]})
    assert not where.matches(_doc(None, None) | {"forecasts": [{"by": "bob"}]})


@pytest.mark.parametrize("text, says", [
    ("Минск\x1b[31m, Гомель", "cannot hold control characters (\\x1b)"),
    ("+-Минск", "has two signs"),
    ("-+газ, нефть", "has two signs"),
    ("бел*рус", "* may only end a word"),
    ("*", "marks no word"),
    ("=", "marks no word"),
])
def test_watch_terms_that_cannot_be_kept_are_refused_in_one_line(text: str, says: str) -> None:
    with pytest.raises(InputError, match=re.escape(says)):
        parse_watch_terms(text)
