"""Matcher benchmark: 10k open claims with 3 watch terms each against 50k entries.

Baseline in the same run: a naive loop that tries every claim's terms as regular expressions on
every entry (timed on a sample of entries, since it is slow, and compared per entry). Both must
find the same matches on the sample. Target: the Matcher at least 50x faster per entry.

    python bench/matcher_bench.py [--claims 10000] [--entries 50000] [--sample 300]
"""

from __future__ import annotations

import argparse
import random
import re
import time

from claimwatch.matching import Match, Matcher, normalize
from claimwatch.parsing import parse_watch_terms

WORDS = ("gas pipeline arctic route summit sanctions exports assets frozen trade transit oil bank payment "
         "yuan ruble treaty nuclear drill fleet port grain tariff loan bond visit deal talks").split()
RUSSIAN = "газ трубопровод саммит санкции экспорт активы торговля транзит нефть банк платеж".split()
CHINESE = ["天然气", "管道", "峰会", "制裁", "出口", "资产", "贸易", "过境", "石油", "银行"]


def make_claims(count: int, rng: random.Random) -> list[tuple[int, tuple[str, ...]]]:
    claims = []
    for n in range(1, count + 1):
        a = " ".join(rng.sample(WORDS, 2)) + f" {n}"
        b = f"{rng.choice(RUSSIAN)} {rng.choice(RUSSIAN)} {n}"
        c = f"{rng.choice(CHINESE)}{n}号"
        claims.append((n, (a, b, c) if n % 3 else (a, b, f"+{rng.choice(WORDS)}")))
    return claims


def make_entries(count: int, claims: int, rng: random.Random) -> list[str]:
    entries = []
    for _ in range(count):
        words = rng.sample(WORDS, 6) + rng.sample(RUSSIAN, 3) + [str(rng.randint(1, claims))]
        rng.shuffle(words)
        entries.append(" ".join(words) + " " + rng.choice(CHINESE) + f"{rng.randint(1, claims)}号")
    return entries


def naive(claims: list[tuple[int, tuple[str, ...]]]):
    """Per claim, per term, a regular expression: the obvious implementation."""
    compiled = []
    for n, stored in claims:
        terms = parse_watch_terms(list(stored))

        def pattern(term: str) -> re.Pattern[str]:
            folded = normalize(term)
            if re.search(r"[\u4e00-\u9fff]", folded):
                return re.compile(re.escape(folded))
            return re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, folded.split())) + r"(?!\w)")

        compiled.append((n, [(t, pattern(t)) for t in terms.alternatives], [(t, pattern(t)) for t in terms.required],
                         [pattern(t) for t in terms.excluded]))

    def match(text: str) -> list[Match]:
        folded = normalize(text)
        found = []
        for n, alternatives, required, excluded in compiled:
            hits = [t for t, p in alternatives if p.search(folded)]
            if alternatives and not hits:
                continue
            if all(p.search(folded) for _, p in required) and not any(p.search(folded) for p in excluded):
                found.append(Match(n, tuple(hits) + tuple(t for t, _ in required)))
        return found

    return match


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(11)
    claims = make_claims(args.claims, rng)
    entries = make_entries(args.entries, args.claims, rng)

    t0 = time.perf_counter()
    matcher = Matcher(claims)
    compile_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = [matcher.match(e) for e in entries]
    fast = time.perf_counter() - t0

    slow_match = naive(claims)
    sample = entries[: args.sample]
    t0 = time.perf_counter()
    expected = [slow_match(e) for e in sample]
    slow = time.perf_counter() - t0
    same = results[: args.sample] == expected

    per_fast, per_slow = fast / len(entries), slow / len(sample)
    print(f"{args.claims} claims x 3 terms, {len(entries)} entries, "
          f"{sum(map(len, results))} matches ({sum(map(len, expected))} in the sample of {len(sample)})")
    print(f"Matcher:    compile {compile_time:.2f} s, match all {fast:.2f} s ({per_fast * 1e6:.0f} µs per entry)")
    print(f"naive loop: {slow:.2f} s for the sample ({per_slow * 1e6:.0f} µs per entry)")
    ratio = per_slow / per_fast
    print(f"same matches on the sample: {same}; Matcher is {ratio:.0f}x faster per entry "
          f"(target >= 50x: {'met' if ratio >= 50 and same else 'MISSED'})")
    return 0 if ratio >= 50 and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
