"""Reading a claim typed as one sentence: "Will Power of Siberia 2 be signed by end of 2026? 30%". Pure.

What is understood, and how (each a draft the analyst sees before saving):
- the **probability**: a percentage or a decimal below 1 at the end, after a question mark, comma, colon, dash
  or `p` (`…? 30%`, `p=0.3`) or in parentheses (`(30%)`), or the words of estimative probability after a
  comma, dash or question mark (`…, very likely`); it leaves the text (a quantity such as "rise 30%" stays);
- the **review date**: the phrase after the last `by`, `before`, `until`, `in`, `within`, `до`, `к` or
  `в течение` that reads as a date (`by end of 2026`, `before June 2027`, `in 3 months`, `до конца 2027
  года`); it stays in the text, which it is part of;
- the **kind**: a question ("Will … ?", «Будет ли … ?») is a forecast, anything else a claim;
- **watch terms**: names in the sentence, that is runs of capitalised words (with `of`, `the`, `de` between
  them and a number after them: `Power of Siberia 2`, `Сила Сибири 2`) and abbreviations (`EU`, `ОПЕК`),
  but not a sentence's first word unless a name goes on from it (`Will`, `Будет`, `China` are left out;
  `Power of Siberia 2 …` is kept), month names, or words of the date phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from claimwatch.errors import InputError
from claimwatch.model import Kind
from claimwatch.parsing import ESTIMATIVE_WORDS, parse_date, parse_probability, parse_watch_terms

# A probability at the end, after a question mark, comma, colon, dash or `p` (`…? 30%`, `…, 0.3`, `p=30%`) or in
# parentheses (`(25%)`): a percentage or a decimal below 1, never a quantity of the text ("rise 30%", "to 1.75").
_TRAILING_P = re.compile(r"(?:[?,;:—–-]\s*\(?|\(|\bp\s*[=:]?\s*)(\d{1,3}(?:[.,]\d+)?\s*%|0?[.,]\d+)\)?\s*[.!]?\s*$",
                         re.IGNORECASE)
_DATE_MARKERS = re.compile(r"(?:^|\s)(?:by|before|until|till|in|within|no later than|до|к|в течение)\s+",
                           re.IGNORECASE)
_WORD = re.compile(r"[^\W_][\w'’-]*")
_CONNECTORS = {"of", "the", "de", "del", "da", "van", "von", "al"}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december", "январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
           "сентябрь", "октябрь", "ноябрь", "декабрь"}
_QUESTION_WORDS = {"will", "would", "is", "are", "was", "were", "does", "do", "did", "can", "could", "shall", "should",
                   "has", "have", "had", "may", "might", "must", "when", "what", "who", "how", "why", "which", "where",
                   "the", "a", "an", "if"}
MAX_TERMS = 5
_MAX_DATE_WORDS = 6


@dataclass(frozen=True)
class QuickClaim:
    text: str
    review_date: date | None = None
    p: float | None = None
    watch: tuple[str, ...] = ()  # as stored (see parsing.WatchTerms.terms)
    date_phrase: str = ""  # the words read as the review date

    @property
    def kind(self) -> Kind:
        """A question asks what will happen: a forecast; a statement is a claim to verify."""
        return Kind.FORECAST if self.text.rstrip(" \"'»”’)").endswith(("?", "？")) else Kind.CLAIM

    def understood(self) -> bool:
        """Whether the sentence gave a review date or a probability: what makes it a quick entry (names alone
        are in any sentence)."""
        return self.review_date is not None or self.p is not None


def read_quick_claim(sentence: str, now: datetime, tz: ZoneInfo) -> QuickClaim:
    """A one-sentence claim with what could be read out of it (see the module docstring)."""
    text, p = _probability(" ".join(sentence.split()))
    review, phrase = _review_date(text, now, tz)
    names = _names(text, phrase)
    return QuickClaim(text, review, p, parse_watch_terms(list(names)).terms() if names else (), phrase)


def _probability(text: str) -> tuple[str, float | None]:
    m = _TRAILING_P.search(text)
    if m and m.start() > 0:  # a probability out of range (130%) is an error, not part of the text
        p = parse_probability(m.group(1).replace(" ", ""))
        return text[:m.start()].rstrip(" ,;:(—–-") + ("?" if text[m.start():].lstrip().startswith("?") else ""), p
    lowered = text.lower()
    for phrase in sorted(ESTIMATIVE_WORDS, key=len, reverse=True):  # "very likely" before "likely"
        for separator in (", ", " — ", " - ", "? ", ": "):
            if lowered.endswith(separator + phrase) or lowered.endswith(separator + phrase + "."):
                cut = lowered.rindex(separator + phrase)
                return text[:cut + (1 if separator == "? " else 0)].rstrip(" ,;:—–-"), ESTIMATIVE_WORDS[phrase]
    return text, None


def _review_date(text: str, now: datetime, tz: ZoneInfo) -> tuple[date | None, str]:
    """The review date in the phrase after the last date marker that reads as one, and that phrase."""
    body = text.rstrip("?!.")
    for marker in reversed(list(_DATE_MARKERS.finditer(body))):
        words = body[marker.end():].split()[:_MAX_DATE_WORDS]
        year = words[0].rstrip(",;:?") if words else ""
        if len(year) == 4 and year.isdecimal() and 1900 < int(year) < 2200:  # "in 2027": its end; "by 2027": its start
            within = marker.group().strip().lower() in ("in", "within", "в течение")
            return (date(int(year), 12, 31) if within else date(int(year), 1, 1)), year
        for n in range(len(words), 0, -1):  # the longest run of words after the marker that is a date
            phrase = " ".join(words[:n]).rstrip(",;:?!.")
            try:
                day = parse_date(phrase, now, tz)
            except InputError:
                continue
            if phrase.isdecimal():  # "in 3 ships" is no date
                continue
            return day, phrase
    return None, ""


def _names(text: str, date_phrase: str) -> tuple[str, ...]:
    """Runs of capitalised words and abbreviations: a draft of watch terms."""
    skip = {w.casefold() for w in _WORD.findall(date_phrase)}
    words = [(m.group(), m.start()) for m in _WORD.finditer(text)]
    names: list[str] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1].casefold() in _CONNECTORS:
            run.pop()
        if run and run[0][0].isupper():
            name = " ".join(run)
            if name.casefold() not in {n.casefold() for n in names}:
                names.append(name)
        run.clear()

    for i, (word, _) in enumerate(words):
        folded = word.casefold()
        first = i == 0
        capital = word[0].isupper() and len(word) > 1 and folded not in _MONTHS and folded not in skip
        if first and capital and (folded in _QUESTION_WORDS or (not word.isupper() and not _name_goes_on(words))):
            capital = False  # a sentence's first word is capitalised anyway: a name only when one goes on from it
        if capital:
            run.append(word)
        elif run and folded in _CONNECTORS:
            run.append(word)
        elif run and word.isdecimal() and folded not in skip:
            run.append(word)
            close()
        else:
            close()
    close()
    return tuple(names[:MAX_TERMS])


def _name_goes_on(words: list[tuple[str, int]]) -> bool:
    """The sentence starts with a name of several words: `Power of Siberia 2 …`, `Nord Stream …`."""
    following = [w for w, _ in words[1:3]]
    if following and following[0][0].isupper():
        return True
    return len(following) == 2 and following[0].casefold() in _CONNECTORS and following[1][0].isupper()
