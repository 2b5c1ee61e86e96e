"""Matching news against watch terms in English, Russian and Chinese."""

from __future__ import annotations

import pytest

from claimwatch.matching import Match, Matcher, normalize

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
    ("Powers of Siberia 2 gas", "", []),
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
    assert matcher.match(title, summary) == expected


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
