"""Reading what analysts type: probabilities, dates, watch terms and tags. Pure functions.

Every function raises InputError with a one-line message that says what is accepted.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from collections.abc import Sequence
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
    "highly unlikely": 0.125,
    "highly improbable": 0.125,
    "unlikely": 0.325,  # 20-45%
    "improbable": 0.325,
    "roughly even chance": 0.5,  # 45-55%
    "roughly even odds": 0.5,
    "even chance": 0.5,
    "likely": 0.675,  # 55-80%
    "probable": 0.675,
    "very likely": 0.875,  # 80-95%
    "highly likely": 0.875,
    "highly probable": 0.875,
    "almost certain": 0.97,  # 95-99%
    "almost certainly": 0.97,
    "nearly certain": 0.97,
}

_PROBABILITY_HELP = "use a percentage (15%), a fraction (0.15), a number up to 100, or a phrase such as 'likely'"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")  # 1,000 is a thousand to some and 1.0 to others: neither
_LONGEST_PHRASE = max(len(phrase.split()) for phrase in ESTIMATIVE_WORDS)


def parse_probability(text: str) -> float:
    """'15%', '0.15', '15' or an ICD 203 phrase -> a probability in [0, 1].

    A bare number above 1 is a percentage ('15' is 15%); 0 to 1 is a fraction ('1' is certainty).
    """
    s = " ".join(text.strip().lower().split())
    if s in ESTIMATIVE_WORDS:
        return ESTIMATIVE_WORDS[s]
    percent = s.endswith("%")
    number = s.removesuffix("%").strip()
    if _DECIMAL_COMMA.fullmatch(number) and not _THOUSANDS.fullmatch(number):  # 0,7 as much of Europe writes 0.7
        number = number.replace(",", ".")
    if not _NUMBER.fullmatch(number):
        raise InputError(f"{text.strip()!r} is not a probability: {_PROBABILITY_HELP}")
    value = float(number)
    if percent or value > 1:
        value /= 100
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise InputError(f"{text.strip()!r} is outside 0-100%: {_PROBABILITY_HELP}")
    return round(value, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def leading_probability(words: Sequence[str]) -> tuple[float, int]:
    """The probability the first of `words` give, and how many it took: the longest run that reads as one, so
    `very likely because ...` is 87.5% followed by a note, as `70 % because ...` is 70%."""
    for n in range(min(_LONGEST_PHRASE, len(words)), 0, -1):
        try:
            return parse_probability(" ".join(words[:n])), n
        except InputError:
            if n == 1:
                raise
    raise InputError(f"give a probability: {_PROBABILITY_HELP}")


# --- dates -----------------------------------------------------------------------------------

_DATE_HELP = ("use an ISO date (2025-06-30), 31/12/2025, or a phrase such as 'in 3 months', 'end of June', 'Q2 2027', "
              "'next Friday'")
_ISO_LIKE = re.compile(r"[\d\s./-]+")
_END_OF = re.compile(r"(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?(.+)")
_YEAR = re.compile(r"(?:year\s+)?(\d+)(?:\s+year)?")
_BARE_YEAR = re.compile(r"(?:the\s+)?(?:year\s+\d+|\d+\s+year)")
_WORD = re.compile(r"[^\W\d_]{3,}")  # a phrase must have a word in it, or it is not a date phrase
# A month named without a day means its first day ("June"); elsewhere keep the day ("in 3 months").
_MONTH_NAME = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|"
    r"(январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр)", re.IGNORECASE)


_NUMERIC = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})")  # 31/12/2026, 31.12.2026
_YEAR_FIRST = re.compile(r"(\d{4})([./])(\d{1,2})\2(\d{1,2})")  # 2026/12/31
_QUARTER = re.compile(r"(?:(\d{4})[\s-]?)?([qh])([1-4])(?:[\s-]?(\d{4}))?")  # Q2 2027, 2027-Q2, H1, q3
_MID = re.compile(r"mid(?:dle of|-|\s)\s*(.+)")
_ZH = re.compile(r"(\d{4})\s*年\s*(?:(\d{1,2})\s*月\s*(?:(\d{1,2})\s*[日号])?)?\s*(底|末)?")  # 2027年6月, 2027年底
_RU_END = re.compile(r"(?:к|до)?\s*(?:конец|конца|концу)\s+(.+?)(?:\s+(?:года|год|г\.?))?")  # конец 2027 (года)
_RU_MID = re.compile(r"(?:к|до)?\s*(?:середина|середины|середине)\s+(.+?)(?:\s+(?:года|год|г\.?))?")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NEXT = re.compile(r"next\s+(week|month|year|" + "|".join(_WEEKDAYS) + ")")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200  # dates outside these years are mistakes, and break date arithmetic


def within_years(day: date, what: str = "a date") -> date:
    """`day` (or a datetime) if its year is within EARLIEST_YEAR..LATEST_YEAR, else a ValueError."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(f"{what} must be within the years {EARLIEST_YEAR}-{LATEST_YEAR}, not {day.isoformat()}")
    return day


def parse_date(text: str, now: datetime, tz: ZoneInfo) -> date:
    """An ISO date or a natural phrase, read relative to `now` in time zone `tz`.

    A month without a year is the next one ('June' is next June 1st), as are a quarter ('Q2 2027': April 1st)
    and a half ('H2'); 'end of X' is X's last day (weeks end on Sunday); 'mid-2027' is July 1st, 'mid-June' the
    15th; 'next Friday' is the Friday of next week, 'next week', 'next month', 'next year' their first day;
    'in 3 months', 'Friday', 'yesterday' are relative to today. Numeric dates are day first (31/12/2026); one
    that reads as two dates (01/02/2027) is refused. Russian ('конец 2027') and Chinese ('2027年6月') forms too.
    Anything that is not clearly a date is an error, never a guess.
    """
    s = " ".join(text.strip().lower().split()).removeprefix("by ")
    if not s:
        raise InputError(f"no date given: {_DATE_HELP}")
    numeric = _numeric(s, text)
    if numeric:
        return numeric
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
    zh = _ZH.fullmatch(s)
    if zh:
        return _chinese(zh, text, today)
    ru = _RU_END.fullmatch(s) or _RU_MID.fullmatch(s)
    if ru:  # "конец 2027 года" as "end of 2027", "середина 2027" as "mid-2027"
        s = ("end of " if ru.re is _RU_END else "mid-") + ru.group(1)
    end_of = _END_OF.fullmatch(s)
    if end_of:
        return _end_of(end_of.group(1), text, now, tz, today)
    return _period(s, text, now, tz, today, last=False) or \
        _natural(s, text, now, tz, prefer_day="first" if _MONTH_NAME.search(s) else "current")


def _numeric(s: str, text: str) -> date | None:
    """31/12/2026, 31.12.2026, 31-12-2026 (day first; 12/31/2026 is read too, having one reading), 2026/12/31."""
    m = _NUMERIC.fullmatch(s)
    if m:
        a, b, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        readings = list(dict.fromkeys(d for d in (_valid(year, b, a), _valid(year, a, b)) if d is not None))
        if len(readings) > 1:  # day first, then month first
            first, second = readings
            raise InputError(f"{text.strip()!r} could be {first.day} {first:%B} or {second.day} {second:%B} {year}: "
                             f"write it as an ISO date ({first} or {second}); {_DATE_HELP}")
        if not readings:
            raise InputError(f"{text.strip()!r} is not a valid date: {_DATE_HELP}")
        return readings[0]
    m = _YEAR_FIRST.fullmatch(s)
    if m:
        found = _valid(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        if found is None:
            raise InputError(f"{text.strip()!r} is not a valid date: {_DATE_HELP}")
        return found
    return None


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _chinese(m: re.Match[str], text: str, today: date) -> date:
    """2027年6月 (June 1st), 2027年6月30日, 2027年6月底 (its last day), 2027年底 (December 31st)."""
    year, month, day, end = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    if not 1900 <= year <= 2200 or (month is None and not end) or (day and end):
        raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
    month_ = int(month) if month else 12
    last = calendar.monthrange(year, month_)[1] if 1 <= month_ <= 12 else 0
    found = _valid(year, month_, last if end else int(day) if day else 1)
    if found is None:
        raise InputError(f"{text.strip()!r} is not a valid date: {_DATE_HELP}")
    return found


def _period(s: str, text: str, now: datetime, tz: ZoneInfo, today: date, last: bool) -> date | None:
    """A quarter, a half, 'mid-…' or 'next week/month/year/<weekday>': its first day (`last`: its last), else None."""
    m = _QUARTER.fullmatch(s)
    if m and not (m.group(1) and m.group(4)):
        size = 3 if m.group(2) == "q" else 6
        number = int(m.group(3))
        if size == 6 and number > 2:
            raise InputError(f"cannot read {text.strip()!r} as a date: a year has halves H1 and H2; {_DATE_HELP}")
        given = m.group(1) or m.group(4)
        if given and not 1900 <= int(given) <= 2200:
            raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
        year = int(given) if given else today.year

        def bounds(y: int) -> tuple[date, date]:
            first = date(y, (number - 1) * size + 1, 1)
            end_month = number * size
            return first, date(y, end_month, calendar.monthrange(y, end_month)[1])

        if not given and (bounds(year)[1] if last else bounds(year)[0]) < today:
            year += 1  # the next one, as a month named without a year
        return bounds(year)[1 if last else 0]
    m = _MID.fullmatch(s)
    if m and not last:
        rest = m.group(1).strip()
        if re.fullmatch(r"\d{4}", rest):
            if not 1900 <= int(rest) <= 2200:
                raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
            return date(int(rest), 7, 1)
        if _MONTH_NAME.search(rest):
            return _natural(rest, text, now, tz, prefer_day="first").replace(day=15)
        raise InputError(f"cannot read {text.strip()!r} as a date: {_DATE_HELP}")
    m = _NEXT.fullmatch(s)
    if m and not last:
        what = m.group(1)
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
        if what == "week":
            return monday
        if what == "month":
            return date(today.year + today.month // 12, today.month % 12 + 1, 1)
        if what == "year":
            return date(today.year + 1, 1, 1)
        return monday + timedelta(days=_WEEKDAYS.index(what))  # that day of next week
    return None


def _end_of(period: str, text: str, now: datetime, tz: ZoneInfo, today: date) -> date:
    quarter = _period(period, text, now, tz, today, last=True)
    if quarter:
        return quarter
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

_WATCH_HELP = ('separate terms with commas; "quote" a phrase that contains a comma; +term is required, '
               '-term excludes; word* matches words starting with it, =word only that exact form')
MAX_TERM_LENGTH = 100
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")  # what matching compares: punctuation never matches
# Han (with its extensions), Hiragana, Katakana, their punctuation and half-width forms: scripts written
# without spaces, whose terms match anywhere in a text (matching.py)
UNSPACED_CHARS = ("\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
                  "\U00020000-\U0003134f")
_UNSPACED = re.compile(f"[{UNSPACED_CHARS}]")
MIN_PREFIX = 3  # letters before a *: "ru*" would match half the news
_PREFIX = re.compile(r"(\w*)\*")


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
        bad = control_character(term)
        if bad:
            raise InputError(f"a watch term cannot hold control characters ({bad}): {clip(term)!r}")
        if not _LETTER_OR_DIGIT.search(term):
            if set(term) <= set("*= "):
                raise InputError(f"watch term {term!r} marks no word: put * after a word's first letters "
                                 "(Беларус*) and = before a word (=Putin)")
            raise InputError(f"watch term {term!r} has no letters or digits, so it could never match")
        _check_markers(term)
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


def _check_markers(term: str) -> None:
    """`word*` (any word starting with it) and `=word` (that form only) mark single words of a term."""
    if ("*" in term or "=" in term) and _UNSPACED.search(term):
        raise InputError(f"watch term {term!r}: * and = apply to words in Latin or Cyrillic script; Chinese "
                         "and Japanese terms match anywhere in a text already")
    for m in _PREFIX.finditer(term):
        end = m.end()
        if end < len(term) and (term[end].isalnum() or term[end] in "*="):
            raise InputError(f"watch term {term!r}: * may only end a word, as in Беларус*")
        if len(m.group(1)) < MIN_PREFIX or not _LETTER_OR_DIGIT.search(m.group(1)):
            raise InputError(f"watch term {term!r}: * needs at least {MIN_PREFIX} letters before it, as in sanction*")
    for i, ch in enumerate(term):
        if ch != "=":
            continue
        if i and (term[i - 1].isalnum() or term[i - 1] == "="):
            raise InputError(f"watch term {term!r}: = may only begin a word, as in =Putin")
        word = re.match(r"\w+(\*)?", term[i + 1:])
        if word is None or not _LETTER_OR_DIGIT.search(word.group()):
            raise InputError(f"watch term {term!r}: = must stand right before a word, as in =Минск")
        if word.group(1):
            raise InputError(f"watch term {term!r}: a word is either exact (=word) or a prefix (word*), not both")


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
    if sign and s[:1] in ("+", "-"):  # a term that starts with a sign itself is quoted: +"-x"
        raise InputError(f"watch term {raw.strip()!r} has two signs: + requires a term, - excludes one "
                         f'(quote a term that starts with a sign: {sign}"{s}")')
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
