"""Which word-form analysis finds a watch term in the news: recall, precision and speed on one table.

The table is tests/data/matching_table.tsv (hand-checked rows: a term, a news text, whether it
matches). Every candidate gets the same tokens and the same rules for what is not morphology (digits,
abbreviations in capitals, words of one or two letters, `word*`, `=word`, Chinese substrings); only
how a word of a term is compared with a word of the news differs:

- exact forms (claimwatch before word forms);
- Snowball stemmers (PyStemmer: English and Russian), a word matches a word with the same stem;
- simplemma's dictionary lemmas (English, Russian, Ukrainian);
- pymorphy3's lemmas (all normal forms of each word) for Cyrillic, simplemma for English;
- claimwatch's Matcher: pymorphy3 paradigms of the terms' words, simplemma lemmas for English.

Recall: matching rows found; precision: rows found that should match. Speed: the analysis of one
distinct word of the news, cold (the Matcher analyses the terms' words instead, so it shows that).

    pip install PyStemmer   # the Snowball candidate, not a dependency of claimwatch
    python bench/morphology_compare.py
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from claimwatch.matching import _TERM_WORD, _TOKEN, _UNSPACED, Matcher, fold, normalize

TABLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "matching_table.tsv"


def rows() -> list[tuple[str, str, bool]]:
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    return [(t, x, w != "-") for t, x, w in (line.split("\t") for line in lines if line and not line.startswith("#"))]


def is_cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def keyed_match(keys: Callable[[str], set[str]]) -> Callable[[str, str], bool]:
    """A matcher that compares words by `keys` (a word of the term matches a word of the news when their
    keys meet), with claimwatch's rules for everything that is not morphology."""

    def term_word(mark: str, surface: str, star: str) -> Callable[[str, str], bool]:
        word = fold(surface)
        if star:
            return lambda w, s: w.startswith(word)
        if not mark and len(surface) >= 2 and surface.isupper():
            return lambda w, s: w == word and s[0].isupper()
        if mark or any(c.isdigit() for c in word) or len(word) <= 2:
            return lambda w, s: w == word
        if surface[0].isupper() and not is_cyrillic(word):  # an English name: as written
            return lambda w, s: w == word and s[0].isupper()
        mine = keys(word)
        return lambda w, s: w == word or bool(mine & keys(w))

    def match(term: str, text: str) -> bool:
        nfkc = unicodedata.normalize("NFKC", text)
        if _UNSPACED.search(normalize(term)):
            return "".join(normalize(term).split()) in "".join(normalize(nfkc).split())
        tests = [term_word(*m.groups()) for m in _TERM_WORD.finditer(unicodedata.normalize("NFKC", term))]
        surfaces = _TOKEN.findall(nfkc)
        words = [fold(s) for s in surfaces]
        return any(all(t(words[i + k], surfaces[i + k]) for k, t in enumerate(tests))
                   for i in range(len(words) - len(tests) + 1))

    return match


def candidates() -> dict[str, tuple[Callable[[str, str], bool], Callable[[str], object]]]:
    """name -> (match(term, text), analyse(word)); the second is what is timed per word."""
    import pymorphy3
    import simplemma

    found: dict[str, tuple[Callable[[str, str], bool], Callable[[str], object]]] = {}
    found["exact forms"] = (keyed_match(lambda w: {w}), lambda w: w)
    try:
        import Stemmer
    except ImportError:
        print("(PyStemmer is not installed: pip install PyStemmer to compare the Snowball stemmers)")
    else:
        english, russian = Stemmer.Stemmer("english"), Stemmer.Stemmer("russian")

        def stem(w: str) -> set[str]:
            return {(russian if is_cyrillic(w) else english).stemWord(w)}
        found["Snowball (PyStemmer)"] = (keyed_match(stem), stem)

    def simple(w: str) -> set[str]:
        lang = ("uk" if any(c in w for c in "іїєґ") else "ru") if is_cyrillic(w) else "en"
        return {simplemma.lemmatize(w, lang=lang).casefold()}
    found["simplemma (en, ru, uk)"] = (keyed_match(simple), simple)

    morph = pymorphy3.MorphAnalyzer(lang="ru")

    def lemmas(w: str) -> set[str]:
        if is_cyrillic(w):
            return {p.normal_form for p in morph.parse(w)}
        return {simplemma.lemmatize(w, lang="en").casefold()}
    found["pymorphy3 lemmas + simplemma"] = (keyed_match(lemmas), lemmas)

    def chosen(term: str, text: str) -> bool:
        return bool(Matcher([(1, (term,))]).match(text))
    found["claimwatch Matcher (chosen)*"] = (chosen, lambda w: Matcher([(1, (w,))]))
    return found


def main() -> int:
    table = rows()
    words = sorted({fold(w) for _, text, _ in table for w in _TOKEN.findall(unicodedata.normalize("NFKC", text))
                    if not _UNSPACED.match(w) and any(c.isalnum() for c in w)})
    print(f"{len(table)} rows ({sum(e for *_, e in table)} should match), {len(words)} distinct words\n")
    print(f"{'candidate':32} {'recall':>7} {'precision':>9} {'µs/word':>8}  misses (first 3) / false matches (first 3)")
    for name, (match, analyse) in candidates().items():
        for warm in ("warm", "тепло", "їжа"):  # loading a dictionary is not a cost per word
            analyse(warm)
        t0 = time.perf_counter()
        for w in words:
            analyse(w)
        per_word = (time.perf_counter() - t0) / len(words) * 1e6
        got = [(term, text, expected, match(term, text)) for term, text, expected in table]
        hits = sum(1 for *_, e, g in got if e and g)
        recall = hits / sum(1 for *_, e, _ in got if e)
        precision = hits / max(1, sum(1 for *_, g in got if g))
        misses = [f"{t}~{x[:24]}" for t, x, e, g in got if e and not g][:3]
        false = [f"{t}~{x[:24]}" for t, x, e, g in got if g and not e][:3]
        print(f"{name:32} {recall:7.0%} {precision:9.0%} {per_word:8.1f}  {misses} / {false}")
    print("\n* the Matcher analyses the words of the terms, once, when it is compiled (its µs/word is that),"
          "\n  and looks the words of the news up by their exact form (bench/matcher_bench.py times it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
