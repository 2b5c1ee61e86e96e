"""Matcher benchmark: 10k open claims with 3 watch terms each against 50k entries, morphology on.

Terms are a realistic mix: English and Russian phrases of topic words (matched in every word form),
Chinese terms, wildcards (`sanc*`), exact words (`=Putin`), abbreviations, required terms. Entries are
about 500 characters of real text: passages of the source report (../shared/source-report.txt) and
of Russian news, one in ten with a Chinese sentence.

Baseline in the same run: the naive implementation, a loop over every claim that runs one regular
expression per term over the same normalised text with each word's forms and lemma written out (timed
on a sample of entries, since it is slow). Both must find the same matches on the sample. Targets: the
Matcher at least 50x faster per entry, and at most 60 µs per entry.

    python bench/matcher_bench.py [--claims 10000] [--entries 50000] [--sample 40]
"""

from __future__ import annotations

import argparse
import random
import re
import time
import unicodedata
from pathlib import Path

from claimwatch.matching import _TERM_WORD, _TOKEN, _UNSPACED, Matcher, _term_word_keys, _word_keys, normalize
from claimwatch.morphology import cyrillic_forms, english_lemma
from claimwatch.parsing import parse_watch_terms

REPORT = Path(__file__).resolve().parents[2] / "shared" / "source-report.txt"
RUSSIAN_NEWS = """
Президент России прибыл в Пекин с государственным визитом и провел переговоры с председателем КНР.
Стороны обсудили поставки газа по трубопроводу Сила Сибири 2, однако соглашение так и не было подписано.
Экспорт китайских товаров в Россию снизился по сравнению с теми же месяцами прошлого года.
Банки Китая ужесточили проверку платежей из-за угрозы вторичных санкций со стороны США и Европейского союза.
В Минске прошла встреча министров иностранных дел, на которой обсуждали транзит грузов через Беларусь.
Министр энергетики заявил, что строительство нового трубопровода начнется не раньше следующего года.
Европейские страны продолжают спорить о судьбе замороженных российских активов и доходах от них.
Швейцария пригласила Китай на саммит по мирному урегулированию, но Пекин пока не ответил на приглашение.
Торговля между странами выросла благодаря поставкам нефти, угля и сельскохозяйственной продукции.
Эксперты отмечают, что переговоры о цене газа остаются главным препятствием для сделки.
""".split()
CHINESE = ["天然气", "管道", "峰会", "制裁", "出口", "资产", "贸易", "过境", "石油", "银行"]


def vocabulary() -> tuple[list[str], list[str], list[str]]:
    """English words of the source report, Russian words of the sample news, and the topic words the
    claims' terms are drawn from: a third of their words of five letters or more (news is about more
    than what is watched; the benchmark prints how many words of an entry start some term)."""
    english = re.findall(r"[A-Za-z][a-z’']+", REPORT.read_text(encoding="utf-8"))
    russian = [w.strip(".,") for w in RUSSIAN_NEWS]
    long_words = sorted({w.lower() for w in english if len(w) >= 5}) + sorted({w.lower() for w in russian if len(w) >= 5})
    return english, russian, random.Random(7).sample(long_words, len(long_words) // 3)


def make_claims(count: int, rng: random.Random, topics: list[str]) -> list[tuple[int, tuple[str, ...]]]:
    english = [w for w in topics if w.isascii()]
    russian = [w for w in topics if not w.isascii()]
    claims = []
    for n in range(1, count + 1):
        first = " ".join(rng.sample(english, 2)) + f" {n}"
        second = " ".join(rng.sample(russian, 2)) + f" {n}"
        third = [f"{rng.choice(CHINESE)}{n}号", f"{rng.choice(english)[:4]}* {n}", f"=Putin {n}", f"NATO {n}",
                 f"+{rng.choice(english)}"][n % 5]
        claims.append((n, (first, second, third)))
    return claims


def make_entries(count: int, claims: list[tuple[int, tuple[str, ...]]], rng: random.Random, english: list[str],
                 russian: list[str]) -> list[str]:
    """About 500 characters each: a passage of the report or of the Russian news, with a claim's number or
    name put in now and then; one in ten ends with a Chinese sentence."""
    entries = []
    for i in range(count):
        source = english if i % 2 else russian
        start = rng.randrange(len(source))
        words: list[str] = []
        while sum(map(len, words)) + len(words) < 480:
            words.append(source[(start + len(words)) % len(source)])
            if rng.random() < 0.05:
                words.append(rng.choice([str(rng.randint(1, len(claims))), "Putin", "NATO", "Putin's", "Nato"]))
        if i % 5 == 0:  # a claim's phrase in another word form, or its Chinese term
            n = rng.randint(1, len(claims))
            english_term, russian_term, third = claims[n - 1][1]
            if i % 2:
                inflected = " ".join(w + "s" if w.isalpha() else w for w in english_term.split())
            else:
                inflected = " ".join(rng.choice(sorted(cyrillic_forms(w))) if w.isalpha() else w
                                     for w in russian_term.split())
            words.insert(rng.randrange(len(words)), third.lstrip("+=") if i % 3 == 0 else inflected)
        text = " ".join(words)
        if i % 10 == 0:
            text += f" {rng.choice(CHINESE)}{rng.randint(1, len(claims))}号，{rng.choice(CHINESE)}谈判继续。"
        entries.append(text)
    return entries


def naive(claims: list[tuple[int, tuple[str, ...]]], prefix_lengths: list[int]):
    """Per claim, per term, a regular expression over the text with each word's keys written out."""

    def pattern(term: str) -> re.Pattern[str]:
        folded = normalize(term)
        if _UNSPACED.search(folded):
            return re.compile(re.escape("".join(folded.split())))
        words = [_term_word_keys(*m.groups()) for m in _TERM_WORD.finditer(unicodedata.normalize("NFKC", term))]
        return re.compile(" ".join(r"\{[^}]*(?<=[{ ])(?:" + "|".join(map(re.escape, sorted(keys))) + r")(?=[ }])[^}]*\}"
                                   for keys in words))

    compiled = []
    for n, stored in claims:
        terms = parse_watch_terms(list(stored))
        compiled.append((n, [(t, pattern(t)) for t in terms.alternatives], [(t, pattern(t)) for t in terms.required],
                         [pattern(t) for t in terms.excluded]))

    def match(text: str) -> list[tuple[int, tuple[str, ...]]]:
        nfkc = unicodedata.normalize("NFKC", text)
        keyed = " ".join("{" + " ".join(sorted(_word_keys(w, prefix_lengths)) if not _UNSPACED.match(w) else "{"
                         ) + "}" for w in _TOKEN.findall(nfkc)) + " " + "".join(normalize(nfkc).split())
        found = []
        for n, alternatives, required, excluded in compiled:
            hits = [t for t, p in alternatives if p.search(keyed)]
            if alternatives and not hits:
                continue
            if all(p.search(keyed) for _, p in required) and not any(p.search(keyed) for p in excluded):
                found.append((n, tuple(hits) + tuple(t for t, _ in required)))
        return found

    return match


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args()
    rng = random.Random(11)
    english, russian, topics = vocabulary()
    claims = make_claims(args.claims, rng, topics)
    entries = make_entries(args.entries, claims, rng, english, russian)
    chars = sum(map(len, entries)) / len(entries)

    t0 = time.perf_counter()
    matcher = Matcher(claims)
    compile_time = time.perf_counter() - t0
    english_lemma("load")  # the dictionary loads on first use: not a cost per word
    distinct = {w.casefold() for e in entries for w in _TOKEN.findall(e) if w.isascii() and w.isalpha()}
    t0 = time.perf_counter()
    for w in distinct:  # the morphology step on its own: every distinct English word of the news
        english_lemma(w)
    lemma_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = [matcher.match(e) for e in entries]
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = [matcher.match(e) for e in entries]
    fast = time.perf_counter() - t0

    slow_match = naive(claims, matcher._prefix_lengths)  # noqa: SLF001 - the same prefixes, for the same keys
    sample = entries[: args.sample]
    t0 = time.perf_counter()
    expected = [slow_match(e) for e in sample]
    slow = time.perf_counter() - t0
    same = [[(m.claim, m.terms) for m in r] for r in results[: args.sample]] == expected

    per_fast, per_slow = fast / len(entries), slow / len(sample)
    print(f"{args.claims} claims x 3 terms, {len(entries)} entries of {chars:.0f} characters, "
          f"{sum(map(len, results))} matches ({sum(map(len, expected))} in the sample of {len(sample)})")
    print(f"morphology: compiling the terms (their Russian forms, English lemmas) {compile_time:.2f} s; "
          f"lemmas of the {len(distinct)} distinct English words of the news: {lemma_time:.2f} s "
          f"({lemma_time / max(len(distinct), 1) * 1e6:.1f} µs per word)")
    tokens = [matcher._seen[w] for e in entries[:1000] for w in _TOKEN.findall(e)]  # noqa: SLF001
    print(f"an entry has {len(tokens) / 1000:.0f} words, of which {sum(1 for w in tokens if w.roots) / 1000:.0f} "
          f"start a term and {sum(1 for w in tokens if w.classes) / 1000:.0f} are a word of some term")
    print(f"Matcher:    first pass {first:.2f} s ({first / len(entries) * 1e6:.0f} µs per entry, words met "
          f"for the first time included), again {fast:.2f} s ({per_fast * 1e6:.0f} µs per entry)")
    print(f"naive loop: {slow:.2f} s for the sample ({per_slow * 1e6:.0f} µs per entry)")
    ratio = per_slow / per_fast
    met = ratio >= 50 and same and per_fast <= 60e-6
    print(f"same matches on the sample: {same}; Matcher is {ratio:.0f}x faster per entry "
          f"(target >= 50x and <= 60 µs per entry: {'met' if met else 'not met'})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
