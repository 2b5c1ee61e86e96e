"""Matching news against watch terms in English, Russian and Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimwatch.matching import Match, Matcher, normalize

TABLE = Path(__file__).parent / "data" / "matching_table.tsv"


def table_rows() -> list[tuple[str, str, str]]:
    """The hand-checked matching table: (term, news text, the words that match or "-")."""
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line.strip() and not line.startswith("#")]

CLAIMS = [
    (1, ("Power of Siberia 2", "Сила Сибири 2", "西伯利亚力量2号", "+gas", "-football")),
    (2, ("frozen Russian assets", "замороженные российские активы", "冻结的俄罗斯资产")),
    (3, ("peace summit", "+China")),
    (4, ("Ёлка",)),
    (5, ("Straße",)),
    (6, ("+Arctic", "+shipping")),  # required terms only
    (7, ()),  # no watch terms: never matches
    (8, ("OPEC", "Huawei", "Nord Stream 2")),
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(CLAIMS)


@pytest.mark.parametrize("title, summary, expected", [
    ("Power of Siberia 2 gas deal delayed again", "", [Match(1, ("Power of Siberia 2", "gas"))]),
    ("POWER OF SIBERIA-2: GAS talks", "", [Match(1, ("Power of Siberia 2", "gas"))]),  # case, hyphen
    ("«Сила Сибири — 2»: переговоры о газе", "Газ по трубопроводу", []),  # "gas" is required in English
    ("Сила Сибири 2 и gas", "", [Match(1, ("Сила Сибири 2", "gas"))]),
    ("西伯利亚力量2号天然气管道谈判", "gas", [Match(1, ("西伯利亚力量2号", "gas"))]),  # CJK: substring
    ("Power of Siberia 2 gas and football", "", []),  # excluded
    ("Power of Siberia 20 gas", "", []),  # whole words only: 20 is not 2
    ("Powers of Siberia 2 gas", "", []),  # a name as written (Power, Siberia), not its lemma
    ("EU debates frozen Russian assets", "", [Match(2, ("frozen Russian assets",))]),
    ("ЕС обсуждает замороженные российские активы", "", [Match(2, ("замороженные российские активы",))]),
    ("欧盟讨论冻结的俄罗斯资产问题", "", [Match(2, ("冻结的俄罗斯资产",))]),
    ("Leaders gather", "China sends envoy to the peace summit", [Match(3, ("peace summit", "China"))]),
    ("Peace summit opens", "", []),  # +China missing
    ("Новогодняя елка", "", [Match(4, ("Ёлка",))]),  # ё and е alike
    ("STRASSE closed", "", [Match(5, ("Straße",))]),  # full case folding
    ("Arctic shipping season", "", [Match(6, ("Arctic", "shipping"))]),
    ("Arctic ice", "", []),
    ("Ｐｏｗｅｒ ｏｆ Ｓｉｂｅｒｉａ ２ gas", "", [Match(1, ("Power of Siberia 2", "gas"))]),  # NFKC full-width
    ("Nothing relevant here", "", []),
    ("据Reuters报道，OPEC决定减产", "", [Match(8, ("OPEC",))]),  # Latin words inline in Chinese text
    ("华为Huawei发布新机", "", [Match(8, ("Huawei",))]),
    ("华为HuaweiMate发布", "", []),  # still whole words
    ("Nord Stream管道2号", "", []),  # a phrase does not span Chinese text
    ("Huawei𠮷", "", [Match(8, ("Huawei",))]),  # CJK extension B ends a word too
])
def test_match_table(matcher: Matcher, title: str, summary: str, expected: list[Match]) -> None:
    assert [(m.claim, m.terms) for m in matcher.match(title, summary)] == [(m.claim, m.terms) for m in expected]


def test_the_table_has_the_rows_it_promises() -> None:
    rows = table_rows()
    assert len(rows) >= 150 and all(len(row) == 3 for row in rows)
    cyrillic = sum(1 for term, _, _ in rows if any("\u0400" <= c <= "\u04ff" for c in term))
    chinese = sum(1 for term, _, _ in rows if any("\u4e00" <= c <= "\u9fff" for c in term))
    misses = sum(1 for *_, words in rows if words == "-")
    assert cyrillic >= 60 and chinese >= 8 and misses >= 50


@pytest.mark.parametrize("term, text, words", table_rows())
def test_word_forms_table(term: str, text: str, words: str) -> None:
    """A term finds its word forms and nothing else; the evidence quotes the words that matched."""
    found = Matcher([(1, (term,))]).match(text)
    assert (found[0].words[0] if found else "-") == words


def test_two_spellings_of_one_name_that_find_the_same_words_are_named_once() -> None:
    matcher = Matcher([(1, ("Power of Siberia 2", "Power of Siberia-2", "pipeline"))])
    assert matcher.match("Power of Siberia-2 pipeline talks") == [
        Match(1, ("Power of Siberia 2", "pipeline"), ("Power of Siberia-2", "pipeline"))]


def test_matched_words_are_quoted_per_term_required_ones_too() -> None:
    matcher = Matcher([(1, ("Минск", "+газ"))])
    assert matcher.match("Поставки газа в Минске", "") == [Match(1, ("Минск", "газ"), ("Минске", "газа"))]


def test_a_phrase_of_words_with_many_forms_stays_one_path() -> None:
    """Each word of a term is one step, whatever number of forms it has (no path per combination)."""
    matcher = Matcher([(1, ("замороженные российские активы",)), (2, ("=замороженные российские активы",))])
    assert [m.claim for m in matcher.match("о замороженных российских активах")] == [1]
    assert [m.claim for m in matcher.match("замороженные российские активы")] == [1, 2]


def test_one_item_can_match_several_claims() -> None:
    matcher = Matcher([(1, ("pipeline",)), (2, ("Power of Siberia",)), (3, ("Power of Siberia 2",))])
    found = matcher.match("Power of Siberia 2 pipeline")
    assert [m.claim for m in found] == [1, 2, 3]  # overlapping terms all found


def test_normalize() -> None:
    assert normalize("ЁЛКА Straße Ⅻ") == "елка strasse xii"


def test_a_claim_with_stored_terms_that_cannot_be_used_is_skipped_with_a_warning(caplog) -> None:
    matcher = Matcher([(1, ("gas", "-!!!")), (2, ("gas",))])  # stored before punctuation-only terms were refused
    assert [m.claim for m in matcher.match("gas talks")] == [2]
    assert "claim #1 is not watched" in caplog.text and "'!!!'" in caplog.text


def test_claims_without_terms_are_not_compiled() -> None:
    assert len(Matcher(CLAIMS)) == 7
