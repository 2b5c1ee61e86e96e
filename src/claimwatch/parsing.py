"""Reading what analysts type: probabilities, dates, watch terms and tags. Pure functions.

Every function raises InputError with a one-line message that says what is accepted.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from claimwatch.errors import InputError

# Words of estimative probability from ICD 203 (US Intelligence Community Directive 203,
# "Analytic Standards", 2015). Each phrase maps to the middle of its ICD range.
ESTIMATIVE_WORDS: dict[str, float] = {
    "almost no chance": 0.03,  # 1-5%
    "remote": 0.03,
    "very unlikely": 0.125,  # 5-20%
    "highly improbable": 0.125,
    "unlikely": 0.325,  # 20-45%
    "improbable": 0.325,
    "roughly even chance": 0.5,  # 45-55%
    "roughly even odds": 0.5,
    "even chance": 0.5,
    "likely": 0.675,  # 55-80%
    "probable": 0.675,
    "very likely": 0.875,  # 80-95%
    "highly probable": 0.875,
    "almost certain": 0.97,  # 95-99%
    "almost certainly": 0.97,
    "nearly certain": 0.97,
}

_PROBABILITY_HELP = "use a percentage (15%), a fraction (0.15), a number up to 100, or a phrase such as 'likely'"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def parse_probability(text: str) -> float:
    """'15%', '0.15', '15' or an ICD 203 phrase -> a probability in [0, 1].

    A bare number above 1 is a percentage ('15' is 15%); 0 to 1 is a fraction ('1' is certainty).
    """
    s = " ".join(text.strip().lower().split())
    if s in ESTIMATIVE_WORDS:
        return ESTIMATIVE_WORDS[s]
    percent = s.endswith("%")
    number = s.removesuffix("%").strip()
    if not _NUMBER.fullmatch(number):
        raise InputError(f"{text.strip()!r} is not a probability: {_PROBABILITY_HELP}")
    value = float(number)
    if percent or value > 1:
        value /= 100
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise InputError(f"{text.strip()!r} is outside 0-100%: {_PROBABILITY_HELP}")
    return round(value, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


# --- dates -----------------------------------------------------------------------------------

_DATE_HELP = "use an ISO date (2025-06-30) or a phrase such as 'in 3 months', 'end of June', 'next Friday'"
_ISO_LIKE = re.compile(r"[\d\s./-]+")
_END_OF = re.compile(r"(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?(.+)")
_YEAR = re.compile(r"(?:year\s+)?(\d+)(?:\s+year)?")
_BARE_YEAR = re.compile(r"(?:the\s+)?(?:year\s+\d+|\d+\s+year)")
_WORD = re.compile(r"[^\W\d_]{3,}")  # a phrase must have a word in it, or it is not a date phrase
# A month named without a day means its first day ("June"); elsewhere keep the day ("in 3 months").
_MONTH_NAME = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|"
    r"(январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр)", re.IGNORECASE)


EARLIEST_YEAR, LATEST_YEAR = 1900, 2200  # dates outside these years are mistakes, and break date arithmetic


def within_years(day: date, what: str = "a date") -> date:
    """`day` (or a datetime) if its year is within EARLIEST_YEAR..LATEST_YEAR, else a ValueError."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(f"{what} must be within the years {EARLIEST_YEAR}-{LATEST_YEAR}, not {day.isoformat()}")
    return day


def parse_date(text: str, now: datetime, tz: ZoneInfo) -> date:
    """An ISO date or a natural phrase, read relative to `now` in time zone `tz`.

    A month without a year is the next one ('June' is next June 1st); 'end of X' is X's last day
    (weeks end on Sunday); 'in 3 months', 'next Friday', 'yesterday' are relative to today.
    Anything that is not clearly a date is an error, never a guess.
    """
    s = " ".join(text.strip().lower().split()).removeprefix("by ")
    if not s:
        raise InputError(f"no date given: {_DATE_HELP}")
    if _ISO_LIKE.fullmatch(s):
        try:
            day = date.fromisoformat(s)
        except ValueError:
            raise InputError(f"{text.strip()!r} is not a valid date: {_DATE_HELP}") from None
        try:
            return within_years(day)
        except ValueError as e:
            raise InputError(str(e)) from None
    today = now.astimezone(tz).date()
    end_of = _END_OF.fullmatch(s)
    if end_of:
        return _end_of(end_of.group(1), text, now, tz, today)
    return _natural(s, text, now, tz, prefer_day="first" if _MONTH_NAME.search(s) else "current")


def _end_of(period: str, text: str, now: datetime, tz: ZoneInfo, today: date) -> date:
    if period in ("month", "this month"):
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    if period in ("year", "this year"):
        return date(today.year, 12, 31)
    if period == "next year":
        return date(today.year + 1, 12, 31)
    if period in ("week", "this week", "next week"):
        sunday = today + timedelta(days=6 - today.weekday())
        return sunday + timedelta(weeks=period == "next week")
    year = _YEAR.fullmatch(period)
    if year:
        if not 1900 <= int(year.group(1)) <= 2200:
            raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
        return date(int(year.group(1)), 12, 31)
    return _natural(period, text, now, tz, prefer_day="last")


def _natural(phrase: str, text: str, now: datetime, tz: ZoneInfo, prefer_day: str) -> date:
    if not _WORD.search(phrase) or _BARE_YEAR.fullmatch(phrase):  # "year 2026": which day of it?
        raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
    import dateparser  # here, not at the top: loading it costs more than most commands take to run

    parsed = dateparser.parse(
        phrase,
        languages=["en", "ru"],
        settings={
            "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
            "PREFER_DAY_OF_MONTH": prefer_day,
            "STRICT_PARSING": False,
        },
    )
    if parsed is None or not 1900 <= parsed.year <= 2200:
        raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
    return parsed.date()


# --- watch terms -----------------------------------------------------------------------------

_WATCH_HELP = 'separate terms with commas; "quote" a phrase that contains a comma; +term is required, -term excludes'
MAX_TERM_LENGTH = 100
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # what matching compares: punctuation never matches


@dataclass(frozen=True)
class WatchTerms:
    """A claim's watch terms: any alternative must match, every required one too, no excluded one."""

    alternatives: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def terms(self) -> tuple[str, ...]:
        """The stored form: one string per term, required ones prefixed +, excluded ones -."""
        return (
            tuple(_quote_if_needed(t) for t in self.alternatives)
            + tuple("+" + _quote_if_needed(t) for t in self.required)
            + tuple("-" + _quote_if_needed(t) for t in self.excluded)
        )


def _quote_if_needed(term: str) -> str:
    return f'"{term}"' if term[:1] in "+-\"" or "," in term else term


def parse_watch_terms(text: str | list[str] | tuple[str, ...]) -> WatchTerms:
    """'Power of Siberia 2, "Сила Сибири 2", +gas, -football' -> WatchTerms.

    A list is taken as terms already split (the stored form). Duplicates are dropped (ignoring case).
    """
    items = _split_terms(text) if isinstance(text, str) else [_unquote_one(t) for t in text]
    groups: dict[str, list[str]] = {"": [], "+": [], "-": []}
    seen: dict[str, str] = {}
    for sign, term in items:
        if not term:
            raise InputError(f"empty watch term after {sign!r}: {_WATCH_HELP}" if sign else
                             f"empty watch term: {_WATCH_HELP}")
        if len(term) > MAX_TERM_LENGTH:
            raise InputError(f"watch term {term[:20]!r}... is longer than {MAX_TERM_LENGTH} characters")
        if not _LETTER_OR_DIGIT.search(term):
            raise InputError(f"watch term {term!r} has no letters or digits, so it could never match")
        key = term.casefold()
        if key in seen:
            if seen[key] != sign:
                raise InputError(f"watch term {term!r} is given twice with different meanings "
                                 f"({seen[key] or 'plain'} and {sign or 'plain'})")
            continue
        seen[key] = sign
        groups[sign].append(term)
    if not groups[""] and not groups["+"]:
        if groups["-"]:
            raise InputError(f"watch terms need at least one term to look for, not only exclusions: {_WATCH_HELP}")
        raise InputError(f"no watch terms given: {_WATCH_HELP}")
    return WatchTerms(tuple(groups[""]), tuple(groups["+"]), tuple(groups["-"]))


def _split_terms(text: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == "," and not quoted:
            items.append(_unquote_one("".join(buf)))
            buf = []
        else:
            buf.append(ch)
    if quoted:
        raise InputError(f"unbalanced quote in watch terms: {_WATCH_HELP}")
    items.append(_unquote_one("".join(buf)))
    if len(items) > 1 or items[0] != ("", ""):
        return items
    return []


def _unquote_one(raw: str) -> tuple[str, str]:
    s = raw.strip()
    sign = s[0] if s[:1] in ("+", "-") else ""
    s = s[len(sign):].strip()
    if s.count('"') % 2:
        raise InputError(f"unbalanced quote in watch term {raw.strip()!r}: {_WATCH_HELP}")
    if s.startswith('"') and s.endswith('"') and len(s) >= 2 and '"' not in s[1:-1]:
        s = s[1:-1].strip()
    elif '"' in s:
        raise InputError(f"a quote may only surround a whole watch term, not part of {raw.strip()!r}")
    return sign, " ".join(s.split())


# --- tags ------------------------------------------------------------------------------------

_TAG = re.compile(r"(?=.*[^\W_])[\w\u0300-\u036f-]{1,40}")  # with a letter or digit; marks as in "i̇"


def parse_tags(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'Energy, #china, power-of-siberia' -> ('energy', 'china', 'power-of-siberia').

    Tags are lower case words (letters, digits, '-', '_'), in any script, without the leading #.
    """
    raw = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    tags: list[str] = []
    for item in raw:
        tag = item.strip().removeprefix("#").casefold()
        if not _TAG.fullmatch(tag):
            raise InputError(f"{item!r} is not a tag: use letters, digits, '-' or '_', at most 40 characters")
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def parse_url(text: str) -> str:
    """A link a claim keeps (its source, an outcome's evidence): http or https (in any case) with a host,
    and no spaces or control characters anywhere. Returned as given."""
    try:
        parts = urlsplit(text)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a malformed [IPv6] host or port
        ok = False
    if not ok or any(c.isspace() or not c.isprintable() for c in text):
        raise InputError(f"{text!r} is not a web address: give an http:// or https:// URL, without spaces")
    return text


def web_address(text: str) -> str:
    """`text` if it is a link parse_url accepts, else "": for showing a stored link (which older versions and
    imports may have kept as written) as a link only when it is a web address."""
    try:
        return parse_url(text) if text else ""
    except InputError:
        return ""


def feed_url(text: str) -> str:
    """A feed's address: a web address (parse_url) with its scheme and host in lower case, so one feed
    is not watched twice as HTTPS://Example.org/rss and https://example.org/rss."""
    parts = urlsplit(parse_url(text))
    host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=host[0] + host[1] + host[2].lower()))


def shown_url(url: str) -> str:
    """An address as shown to people: a user name and password in it (`https://user:pass@host/`) become
    `***`, so a feed's credentials reach no chat, log or terminal that lists feeds."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"


def feed_key(url: str) -> str:
    """What two addresses of one feed have in common: addresses stored before feed_url was applied may
    differ in the case of their scheme or host."""
    try:
        return feed_url(url)
    except InputError:  # stored long ago, before addresses were checked: compared as written
        return url


# --- names, ids, text ------------------------------------------------------------------------

MAX_NAME_LENGTH = 200  # Telegram names are kept as 'first last (id)': up to about 150
MAX_ID_LENGTH = 200


def clip(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters with an ellipsis, for quoting a value in a one-line message."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str every surrogate is a lone one: no valid text has it


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` (what undecodable bytes or a broken \\ud800 escape become), shown
    as an escape; None if none."""
    found = _LONE_SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found.group()):04x}"


def no_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, for names and text that come from outside and
    are shown, not typed here (a Telegram name)."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def printable(text: str) -> str:
    """`text` from outside with its control characters made spaces and its lone surrogates U+FFFD."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in no_surrogates(text))


def _invisible(text: str) -> bool:
    """Nothing in `text` shows: spaces, zero-width and other format characters, marks with no base."""
    return all(unicodedata.category(c)[0] in "ZC" or unicodedata.category(c) in ("Mn", "Me") for c in text)


def parse_note(text: str, what: str = "a note") -> str:
    """A note as typed (with a forecast, an outcome, a reopening): line breaks and tabs are fine, other
    control characters (an ESC sequence would drive a terminal that shows it) and broken text are not."""
    value = text.strip()
    _check_text(value, what, allow_whitespace=True)
    return value


def _check_text(value: str, what: str, *, allow_whitespace: bool) -> None:
    broken = lone_surrogate(value)
    if broken:
        raise InputError(f"{what} is not valid text (it holds {broken}, what bytes that are not UTF-8 become): "
                         f"{clip(value)!r}")
    bad = control_character(value, allow_whitespace)
    if bad:
        raise InputError(f"{what} cannot hold control characters ({bad}): {clip(value)!r}")


def control_character(text: str, allow_whitespace: bool = False) -> str | None:
    """The first control character in `text` (a line break, ESC, NUL, DEL …), shown as an escape; None if none.
    With `allow_whitespace`, line breaks and tabs are allowed (a quoted passage may have paragraphs)."""
    for c in text:
        if unicodedata.category(c) == "Cc" and not (allow_whitespace and c.isspace()):
            return repr(c)[1:-1]
    return None


def parse_name(text: str, what: str = "a name") -> str:
    """Who acts, as given with --by or CLAIMWATCH_USER (see _one_line)."""
    return _one_line(text, what, MAX_NAME_LENGTH)


def parse_external_id(text: str) -> str:
    """A claim's external id (see _one_line)."""
    return _one_line(text, "an external id", MAX_ID_LENGTH)


def _one_line(text: str, what: str, limit: int) -> str:
    """`text` without surrounding spaces: not blank, one line without control characters, at most `limit`
    characters."""
    value = text.strip()
    if _invisible(value):  # zero-width characters alone are blank too
        raise InputError(f"{what} cannot be blank")
    _check_text(value, what, allow_whitespace=False)
    if len(value) > limit:
        raise InputError(f"{what} is limited to {limit} characters, not {len(value)}: {clip(value)!r}")
    return value
