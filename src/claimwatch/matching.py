"""Matching news items against the watch terms of claims, in English, Russian and Chinese. Pure.

Text and terms are normalised alike: Unicode NFKC without soft hyphens, zero-width characters and
combining accents, full case folding (so Greek, Cyrillic and ß fold too, not just ASCII), ё read as е.
Terms in Latin or Cyrillic script match whole words, in order and adjacent, whatever punctuation within
a clause stands between them ("Сила Сибири-2" matches "сила сибири 2", but "Nord Stream: 2 people" does
not match `Nord Stream 2`); each word of a term matches its word forms:

- a Russian or Ukrainian word matches every form of its paradigm: `Минск` finds «в Минске», «из
  Минска»; `Сила Сибири 2` finds «по Силе Сибири 2»; `Беларусь` finds «с Беларусью»; typed in another
  form, every reading of it (`Силой` is «сила»'s), but with a capital a name's where it can be one
  (`Газа` is Gaza, not «газ»; `Путина` is «Путин», not «путина»);
- an English word matches the words with the same dictionary lemma: `sanction` finds "sanctions",
  "sanctioned", "sanctioning"; one written with a capital is a name, matched as written and starting
  with a capital in the news too (`Fed` not "feeds"); any word matches its possessive ("Putin's");
- a word of another lemma never matches: `Путин` not «Путинизм», `газ` not «газета», `Putin` not
  "Putinism", and `Минск` not «минский» (an adjective: write `минск*` or list it);
- exact, whatever the language: words with a digit (`2`, `G7`), words of one or two letters, and
  abbreviations written in capitals (`ЕС`, `NATO`), which match only a word that starts with a capital
  letter in the news too (`WHO` not "who", `ЕС` not «если», which is another word anyway);
- `word*` matches every word that starts with it (`Беларус*`: беларусь, белорусский no, беларусский
  yes), `=word` that exact form only (`=Putin`); both may mark any word of a phrase.

Terms with Chinese or Japanese characters, which are written without spaces, match as substrings of
the text with its white space removed, found in one pass by an Aho–Corasick automaton (pyahocorasick,
the only module that imports it), and only in texts that contain such characters at all.

Cost: a text is split into words once; each distinct word is looked up once per Matcher in a table
that gives the term words it can be (usually none), so an entry costs the same whatever the number of
claims; the walk over phrases starts only at words that begin some term.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, islice
from operator import attrgetter
from typing import NamedTuple

import ahocorasick

from claimwatch.errors import InputError
from claimwatch.morphology import cyrillic_forms, english_lemma
from claimwatch.parsing import UNSPACED_CHARS, WatchTerms, parse_watch_terms

log = logging.getLogger(__name__)

_UNSPACED = re.compile(f"[{UNSPACED_CHARS}]")
# The end of a sentence or clause, which no phrase spans: "Nord Stream: 2 people", "Power of Siberia, 2 sources".
# A dash does not end one ("Сила Сибири — 2"), nor a point inside a number (1.5).
_BREAK = "[.,:;!?…»”\"](?=\\s|$)"
# A word is letters and digits of spaced scripts, with apostrophes inside (Putin's, м'ясо); a run of
# unspaced characters is a token of its own that no term word matches, so it stands between words as a
# gap no phrase spans: "Trump" is a word in "美国总统Trump表示", and "Apple Watch" does not match
# "Apple公司表示，不会推出Watch".
_TOKEN = re.compile(f"[^\\W{UNSPACED_CHARS}]+(?:['’][^\\W{UNSPACED_CHARS}]+)*|[{UNSPACED_CHARS}]+|{_BREAK}")
# a term's word with its marks: =word (exact) or word* (prefix)
_TERM_WORD = re.compile(f"(=?)([^\\W{UNSPACED_CHARS}]+(?:['’][^\\W{UNSPACED_CHARS}]+)*)(\\*?)")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
# What is not part of a word's letters: soft hyphens, zero-width characters and joiners, a BOM, and combining
# accents such as the stress mark in «Ми́нск» (precomposed letters, й and ё, are single characters after NFKC).
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff\u0300-\u036f]")
_LATIN_WORD = re.compile("[a-z'\u00df-\u024f]+")  # folded: ASCII letters and Latin accented ones
_POSSESSIVE = re.compile("['’]s$")
_MAX_CACHE = 500_000  # distinct words a Matcher remembers; beyond, it starts again


def normalize(text: str) -> str:
    """NFKC without invisible characters, case-folded, ё as е."""
    return _visible(text).casefold().replace("ё", "е")


def _visible(text: str) -> str:
    """NFKC, without the characters that only split words (soft hyphens, zero-width ones, combining accents)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))


def fold(word: str) -> str:
    """A word as matching compares it: case-folded, ё as е, a possessive 's dropped (of an NFKC word)."""
    return _POSSESSIVE.sub("", word.casefold().replace("ё", "е").replace("’", "'"))


# Keys a word of the news offers, and keys a term word asks for: "=минске" (this form), "^nato" (this
# form, starting with a capital), "~sanction" (an English lemma), "*беларус" (a prefix).


def _word_keys(surface: str, prefix_lengths: Sequence[int]) -> set[str]:
    """Every key a word of the news (as it stands in the NFKC text) can match."""
    word = fold(surface)
    keys = {"=" + word}
    if surface[0].isupper():
        keys.add("^" + word)
    if _LATIN_WORD.fullmatch(word):
        keys.add("~" + english_lemma(word))
    keys.update("*" + word[:n] for n in prefix_lengths if n <= len(word))
    return keys


def _term_word_keys(mark: str, surface: str, star: str) -> frozenset[str]:
    """The keys a word of a term matches (any one of them)."""
    word = fold(surface)
    if star:
        return frozenset({"*" + word})
    if not mark and len(surface) >= 2 and surface.isupper():  # an abbreviation: NATO, ЕС, США, G7
        return frozenset({"^" + word})
    if mark or any(c.isdigit() for c in word) or len(word) <= 2:
        return frozenset({"=" + word})
    if _CYRILLIC.search(word):
        return frozenset("=" + form for form in cyrillic_forms(word, surface[0].isupper()))
    if surface[0].isupper():  # an English name: as written, starting with a capital (Fed not feeds, Turkey not turkey)
        return frozenset({"^" + word})
    if _LATIN_WORD.fullmatch(word):
        return frozenset({"~" + english_lemma(word)})
    return frozenset({"=" + word})


def searchable(text: str) -> str:
    """Text as a listing's search reads it, its words and what it searches alike: normalize(), with ’ as '."""
    return normalize(text).replace("’", "'")


class SearchWord(NamedTuple):
    """A listing's search word: `needle`, a substring of every text it finds (a quick first test), and `finds`,
    the test itself, both on a text as searchable() leaves it."""
    needle: str
    finds: Callable[[str], bool]


def search_word(word: str) -> SearchWord:
    """A word an analyst searches the claims for, read as a watch term's word is (_term_word_keys) and found
    whatever the case of the text: a Russian or Ukrainian word in any of its forms (`России` finds «Россия»;
    with a capital, a name's: `Газа` is not «газ»), an English word by its lemma (`agreement` finds
    "agreements", `signed` finds "signs"); as typed, a name or abbreviation with a capital (`Fed`, `NATO`),
    a word with a digit or of one or two letters, `=word`, and what is no plain word ("e-mail"); `word*` as
    a prefix; Chinese or Japanese anywhere (written without spaces). Whole words, in a claim's text, source
    title, tags and external id (search_text)."""
    visible = _visible(word)
    typed = searchable(visible)
    if _UNSPACED.search(typed):
        return SearchWord(typed, lambda text: True)
    m = _TERM_WORD.fullmatch(visible)
    if m is None or not fold(m.group(2)):  # no plain word ("e-mail", "'s"): as typed
        return _any_of([typed])
    keys = _term_word_keys(*m.groups())
    key = min(keys)  # its one key, unless they are a word's forms
    if key[0] == "*":
        prefix = re.compile(rf"(?<!\w){re.escape(key[1:])}")
        return SearchWord(key[1:], lambda text: prefix.search(text) is not None)
    if key[0] == "~":
        lemma = key[1:]
        folded = fold(m.group(2))
        starting = re.compile(rf"(?<!\w)(?:{re.escape(folded)}|{re.escape(lemma)})\w*")
        return SearchWord(os.path.commonprefix([folded, lemma]),  # (none for "went", whose lemma is "go")
                          lambda text: any(w == folded or english_lemma(w) == lemma for w in starting.findall(text)))
    return _any_of([k[1:] for k in keys])  # "=" forms, or "^" a name as written: in any case here


def _any_of(forms: list[str]) -> SearchWord:
    """Any of these words, whole."""
    forms.sort(key=len, reverse=True)
    whole = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, forms))})(?!\w)")
    return SearchWord(os.path.commonprefix(forms), lambda text: whole.search(text) is not None)


def usable_terms(watched: Iterable[tuple[int, Sequence[str]]]) -> Iterator[tuple[int, WatchTerms]]:
    """Each claim that has watch terms, with them parsed; a claim whose stored terms cannot be used (stored
    before a rule they break was made) is left out with a warning: one claim does not stop the rest."""
    for claim, stored in watched:
        if not stored:
            continue
        try:
            yield claim, parse_watch_terms(list(stored))
        except InputError as e:
            log.warning("claim #%s is not watched until its watch terms are fixed (/edit %s watch ...): %s",
                        claim, claim, e)


class Match(NamedTuple):
    """A claim an item bears on (a named tuple: made for every matching entry, in the parser processes, and sent
    to the watcher's)."""

    claim: int
    terms: tuple[str, ...]  # the watch terms that matched (required ones without their +)
    words: tuple[str, ...] = ()  # for each term, the words of the item that matched it


@dataclass(frozen=True)
class _Rule:
    claim: int
    alternatives: tuple[str, ...]
    required: tuple[str, ...]
    excluded: tuple[str, ...]


class _Node:
    """A step in the phrase trie: what the next word may be (by word class), and the terms that end here."""

    __slots__ = ("next", "terms")

    def __init__(self) -> None:
        self.next: dict[int, _Node] = {}
        self.terms: list[str] = []


class _Word(NamedTuple):
    """A word of the news: its classes, the trie nodes it starts, the one-word terms it is, and whether
    a longer term starts with it."""

    classes: tuple[int, ...]
    roots: tuple[_Node, ...]
    terms: tuple[str, ...]
    longer: bool


_STARTS = attrgetter("roots")


class Matcher:
    """The watch terms of many claims, compiled once; `match` finds the claims an item bears on.

    Each distinct term word (with its marks) is a word class: the set of keys it matches. A word of the
    news belongs to the classes whose keys it offers; phrases are paths of classes in a trie."""

    def __init__(self, watched: Iterable[tuple[int, Sequence[str]]]) -> None:
        """`watched`: (claim number, its stored watch terms) for each open claim."""
        self._rules = 0
        self._root = _Node()
        self._classes: dict[frozenset[str], int] = {}
        self._classes_of_key: dict[str, list[int]] = defaultdict(list)
        self._pieces: dict[str, set[str]] = defaultdict(set)  # unspaced text -> terms
        self._automaton: ahocorasick.Automaton | None = None
        self._seen: dict[str, _Word] = {}  # a word of the news, as the trie sees it
        self._pairs: dict[tuple[str, str], tuple[_Node, ...]] = {}  # two words of the news -> where they lead
        self._rules_of: dict[str, list[_Rule]] = defaultdict(list)  # term -> rules it can start a match of
        indexed: set[str] = set()
        for claim, terms in usable_terms(watched):
            rule = _Rule(claim, terms.alternatives, terms.required, terms.excluded)
            self._rules += 1
            for term in (*terms.alternatives, *terms.required, *terms.excluded):
                if term not in indexed:
                    indexed.add(term)
                    self._index(term)
            for term in set(terms.alternatives or terms.required):  # what a match cannot do without
                self._rules_of[term].append(rule)
        self._prefix_lengths = sorted({len(k) - 1 for k in self._classes_of_key if k[0] == "*"})
        if self._pieces:
            self._automaton = ahocorasick.Automaton()
            for piece, terms in self._pieces.items():
                self._automaton.add_word(piece, (piece, tuple(terms)))
            self._automaton.make_automaton()

    def _index(self, term: str) -> None:
        """Add a term to the trie (or the automaton)."""
        folded = normalize(term)
        if _UNSPACED.search(folded):
            self._pieces["".join(folded.split())].add(term)
            return
        node = self._root
        for m in _TERM_WORD.finditer(_visible(term)):
            node = node.next.setdefault(self._class(_term_word_keys(*m.groups())), _Node())
        if node is not self._root:
            node.terms.append(term)

    def _class(self, keys: frozenset[str]) -> int:
        number = self._classes.get(keys)
        if number is None:
            number = self._classes[keys] = len(self._classes)
            for key in keys:
                self._classes_of_key[key].append(number)
        return number

    def __len__(self) -> int:
        return self._rules

    def _word(self, surface: str) -> _Word:
        """A word of the news as the trie sees it (usually it starts nothing and belongs to no class)."""
        if len(self._seen) >= _MAX_CACHE:
            self._seen.clear()
            self._pairs.clear()
        if _UNSPACED.match(surface):
            classes: tuple[int, ...] = ()
        else:
            classes = tuple({c for k in _word_keys(surface, self._prefix_lengths)
                             for c in self._classes_of_key.get(k, ())})
        roots = tuple(n for c in classes if (n := self._root.next.get(c)))
        word = self._seen[surface] = _Word(classes, roots, tuple(t for n in roots for t in n.terms),
                                           any(n.next for n in roots))
        return word

    def _find(self, texts: Sequence[str]) -> tuple[list[str], dict[str, tuple[int, int, int] | tuple[int, str]]]:
        """The texts after NFKC, and where each term occurs first: (text, first word, end word) or, for
        a Chinese or Japanese term, (text, the piece found)."""
        hits: dict[str, tuple[int, int, int] | tuple[int, str]] = {}
        nfkcs = [_visible(text) for text in texts]
        for at, nfkc in enumerate(nfkcs):
            if self._classes:
                surfaces = _TOKEN.findall(nfkc)
                words = list(map(self._seen.get, surfaces))  # the loops that touch every word run in C
                if None in words:
                    words = [w if w is not None else self._word(s) for w, s in zip(words, surfaces)]
                last = len(words) - 1
                for start in compress(range(len(words)), map(_STARTS, words)):
                    word = words[start]
                    for term in word.terms:
                        if term not in hits:
                            hits[term] = (at, start, start + 1)
                    if word.longer and start < last and words[start + 1].classes:
                        pair = (surfaces[start], surfaces[start + 1])
                        second = self._pairs.get(pair)
                        if second is None:
                            if len(self._pairs) >= _MAX_CACHE:  # pairs outnumber words: bounded on their own
                                self._pairs.clear()
                            second = self._pairs[pair] = tuple(
                                n for node in word.roots if node.next for c in words[start + 1].classes
                                if (n := node.next.get(c)))
                        for node in second:
                            self._walk(words, at, start, start + 2, node, hits)
            if self._automaton is not None and _UNSPACED.search(nfkc):
                for _, (piece, terms) in self._automaton.iter("".join(normalize(nfkc).split())):
                    for term in terms:
                        hits.setdefault(term, (at, piece))
        return nfkcs, hits

    def _walk(self, words: list[_Word], at: int, start: int, end: int, node: _Node,
              hits: dict[str, tuple[int, int, int] | tuple[int, str]]) -> None:
        """The terms that match words[start:end] (ending at `node`) and the longer ones going on from there."""
        for term in node.terms:
            if term not in hits:
                hits[term] = (at, start, end)
        if node.next and end < len(words):
            for c in words[end].classes:
                child = node.next.get(c)
                if child is not None:
                    self._walk(words, at, start, end + 1, child, hits)

    @staticmethod
    def _quote(nfkcs: list[str], where: tuple[int, int, int] | tuple[int, str]) -> str:
        """The words of a text that matched a term, as the text has them (with their punctuation)."""
        if len(where) == 2:
            return where[1]  # type: ignore[return-value]
        at, start, end = where  # type: ignore[misc]
        words = list(islice(_TOKEN.finditer(nfkcs[at]), start, end))  # the words up to the last one matched
        return nfkcs[at][words[0].start():words[-1].end()]

    def found_terms(self, *texts: str) -> dict[str, str]:
        """Every watch term (as written) that occurs in any of `texts`, with the words that matched it:
        the first occurrence, as the text has it (after NFKC)."""
        nfkcs, hits = self._find(texts)
        return {term: self._quote(nfkcs, where) for term, where in hits.items()}

    def match(self, title: str, summary: str = "") -> list[Match]:
        """The claims whose watch terms an item (its title and summary, as plain text) satisfies:
        any alternative, every required term, no excluded term."""
        nfkcs, found = self._find((title, summary))
        if not found:
            return []
        candidates = {id(rule): rule for term in found for rule in self._rules_of.get(term, ())}
        matches = []
        for rule in sorted(candidates.values(), key=lambda r: r.claim):
            hits = [t for t in rule.alternatives if t in found]
            if rule.alternatives and not hits:
                continue
            if not all(t in found for t in rule.required) or any(t in found for t in rule.excluded):
                continue
            if len(hits) > 1:  # two spellings of one name (Power of Siberia 2, Power of Siberia-2) found the same
                first: dict[tuple[int, int, int] | tuple[int, str], str] = {}  # words: the first term names them
                hits = [t for t in hits if first.setdefault(found[t], t) == t]
            terms = tuple(hits) + rule.required
            matches.append(Match(rule.claim, terms, tuple(self._quote(nfkcs, found[t]) for t in terms)))
        return matches
