"""Matching news items against the watch terms of claims, in English, Russian and Chinese. Pure.

Text and terms are normalised alike: Unicode NFKC, full case folding (so Greek, Cyrillic and ß
fold too, not just ASCII), and ё read as е. Terms in Latin or Cyrillic script match whole words,
whatever punctuation stands between them ("Сила Сибири-2" matches "сила сибири 2"); terms with
Chinese or Japanese characters, which are written without spaces, match as substrings.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from claimwatch.errors import InputError
from claimwatch.parsing import parse_watch_terms

log = logging.getLogger(__name__)

# Han (with its extensions), Hiragana, Katakana, their punctuation and half-width forms: scripts
# written without spaces
_UNSPACED_CHARS = ("\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
                   "\U00020000-\U0003134f")
_UNSPACED = re.compile(f"[{_UNSPACED_CHARS}]")
# A word is letters and digits of spaced scripts; a run of unspaced characters ends it and stands between
# words as a gap no phrase spans: "Trump" is a word in "美国总统Trump表示", and "Apple Watch" does not
# match "Apple公司表示，不会推出Watch".
_TOKEN = re.compile(f"[^\\W{_UNSPACED_CHARS}]+|[{_UNSPACED_CHARS}]+")


def normalize(text: str) -> str:
    """NFKC, case-folded, ё as е."""
    return unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")


def _words(text: str) -> tuple[str, ...]:
    """The words of a folded text, with "" for each run of unspaced characters between them."""
    return tuple("" if _UNSPACED.match(token) else token for token in _TOKEN.findall(text))


@dataclass(frozen=True)
class Match:
    claim: int
    terms: tuple[str, ...]  # the watch terms that matched (required ones without their +)


@dataclass(frozen=True)
class _Rule:
    claim: int
    alternatives: tuple[str, ...]
    required: tuple[str, ...]
    excluded: tuple[str, ...]


class Matcher:
    """The watch terms of many claims, compiled once; `match` finds the claims an item bears on."""

    def __init__(self, watched: Iterable[tuple[int, Sequence[str]]]) -> None:
        """`watched`: (claim number, its stored watch terms) for each open claim."""
        self._rules = 0
        self._phrases: dict[tuple[str, ...], set[str]] = defaultdict(set)  # word sequence -> terms
        self._pieces: dict[str, set[str]] = defaultdict(set)  # unspaced text -> terms
        self._piece_lengths: set[int] = set()
        self._longest = 1
        self._rules_of: dict[str, list[_Rule]] = defaultdict(list)  # term -> rules it can start a match of
        for claim, stored in watched:
            if not stored:
                continue
            try:
                terms = parse_watch_terms(list(stored))
            except InputError as e:  # stored before a rule it breaks was made: one claim does not stop the rest
                log.warning("claim #%s is not watched until its watch terms are fixed (/edit %s watch ...): %s",
                            claim, claim, e)
                continue
            rule = _Rule(claim, terms.alternatives, terms.required, terms.excluded)
            self._rules += 1
            for term in (*terms.alternatives, *terms.required, *terms.excluded):
                self._index(term)
            for term in set(terms.alternatives or terms.required):  # what a match cannot do without
                self._rules_of[term].append(rule)

    def _index(self, term: str) -> None:
        folded = normalize(term)
        if _UNSPACED.search(folded):
            piece = "".join(folded.split())
            self._pieces[piece].add(term)
            self._piece_lengths.add(len(piece))
            return
        words = _words(folded)
        if words:
            self._phrases[words].add(term)
            self._longest = max(self._longest, len(words))

    def __len__(self) -> int:
        return self._rules

    def found_terms(self, *texts: str) -> set[str]:
        """Every watch term (as written) that occurs in any of `texts`."""
        found: set[str] = set()
        for text in texts:
            folded = normalize(text)
            words = _words(folded)
            for size in range(1, min(self._longest, len(words)) + 1):
                for i in range(len(words) - size + 1):
                    terms = self._phrases.get(words[i:i + size])
                    if terms:
                        found |= terms
            if self._pieces:
                unspaced = "".join(folded.split())
                for i in range(len(unspaced)):  # every substring of a length some term has
                    for length in self._piece_lengths:
                        terms = self._pieces.get(unspaced[i:i + length])
                        if terms:
                            found |= terms
        return found

    def match(self, title: str, summary: str = "") -> list[Match]:
        """The claims whose watch terms an item (its title and summary, as plain text) satisfies:
        any alternative, every required term, no excluded term."""
        found = self.found_terms(title, summary)
        candidates = {id(rule): rule for term in found for rule in self._rules_of.get(term, ())}
        matches = []
        for rule in sorted(candidates.values(), key=lambda r: r.claim):
            hits = [t for t in rule.alternatives if t in found]
            if rule.alternatives and not hits:
                continue
            if not all(t in found for t in rule.required) or any(t in found for t in rule.excluded):
                continue
            matches.append(Match(rule.claim, tuple(hits) + rule.required))
        return matches
