"""Quick entry: a claim typed as one sentence, a forwarded message, saved on one tap."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.errors import InputError
from claimwatch.model import Kind, Role, Source
from claimwatch.quickentry import read_quick_claim
from claimwatch.store import Store

from conftest import NOW, UTC_TZ, run_cli

ANA = 2


@pytest.mark.parametrize("sentence, text, review, p, watch", [
    ("Will Power of Siberia 2 be signed by end of 2026? 30%", "Will Power of Siberia 2 be signed by end of 2026?",
     date(2026, 12, 31), 0.3, ("Power of Siberia 2",)),
    ("China will attend the next peace summit in Switzerland before June 2027 (25%)",
     "China will attend the next peace summit in Switzerland before June 2027", date(2027, 6, 1), 0.25,
     ("Switzerland",)),
    ("Putin visits Beijing again within 6 months, very likely", "Putin visits Beijing again within 6 months",
     date(2026, 9, 2), 0.875, ("Beijing",)),
    ("The EU adopts a 20th sanctions package by Q2 2027 p=0.7", "The EU adopts a 20th sanctions package by Q2 2027",
     date(2026 + 1, 4, 1), 0.7, ("EU",)),
    ("Exports to Russia fall in 2027", "Exports to Russia fall in 2027", date(2027, 12, 31), None, ("Russia",)),
    ("Talks resume by 2027, unlikely", "Talks resume by 2027", date(2027, 1, 1), 0.325, ()),
    ("Подпишут ли Россия и Китай контракт до конца 2027 года? 20%",
     "Подпишут ли Россия и Китай контракт до конца 2027 года?", date(2027, 12, 31), 0.2, ("Россия", "Китай")),
    ("Nord Stream 2 restarts by mid-2027", "Nord Stream 2 restarts by mid-2027", date(2027, 7, 1), None,
     ("Nord Stream 2",)),
    ("A claim from chat", "A claim from chat", None, None, ()),
    ("Will the ECB cut its deposit rate to 1.75", "Will the ECB cut its deposit rate to 1.75", None, None, ("ECB",)),
    ("Will the Fed cut rates by 0.25", "Will the Fed cut rates by 0.25", None, None, ("Fed",)),
    ("Exports rise 30%", "Exports rise 30%", None, None, ()),  # a quantity, not a probability
    ("Will the EU adopt a package by March? 1.5", "Will the EU adopt a package by March? 1.5", date(2027, 3, 1),
     None, ("EU",)),
    ("The Kremlin says talks in 3 rounds failed", "The Kremlin says talks in 3 rounds failed", None, None,
     ("Kremlin",)),
])
def test_a_sentence_gives_its_review_date_probability_and_names(sentence, text, review, p, watch) -> None:
    quick = read_quick_claim(sentence, NOW, UTC_TZ)
    assert (quick.text, quick.review_date, quick.p, quick.watch) == (text, review, p, watch)


@pytest.fixture
def service(store: Store) -> tuple[Store, ChatService]:
    """An analyst's chat on each kind of store."""
    store.set_role(ANA, Role.ANALYST, "ana", "test", NOW)
    return store, ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "claimwatch_test_bot"))


def test_quick_add_in_chat_shows_what_it_understood_and_saves_on_one_tap(service: tuple[Store, ChatService]) -> None:
    store, chat = service
    (draft,) = chat.handle(Incoming(ANA, ANA, "/add Will Power of Siberia 2 be signed by end of 2026? 30%", "ana"), NOW)
    assert "kind: forecast" in draft.text  # a question: what will happen
    assert "review: 2026-12-31" in draft.text and "probability: 30%" in draft.text
    assert "watch: Power of Siberia 2" in draft.text
    assert [b.label for row in draft.buttons for b in row] == ["Save", "Edit", "Cancel"]
    assert store.find_claims() == []  # nothing saved before the tap
    (edit,) = chat.handle(Incoming(ANA, ANA, "edit", "ana", pressed=True), NOW)
    assert ("/add Will Power of Siberia 2 be signed by end of 2026? | kind forecast | due 2026-12-31 | p 30% | "
            "watch Power of Siberia 2") in edit.text
    (saved,) = chat.handle(Incoming(ANA, ANA, "save", "ana", pressed=True), NOW)
    assert "Recorded <b>#1</b>" in saved.text
    claim = store.get_claim(1)
    assert (claim.review_date, claim.p, claim.watch) == (date(2026, 12, 31), 0.3, ("Power of Siberia 2",))
    assert claim.kind is Kind.FORECAST
    (plain,) = chat.handle(Incoming(ANA, ANA, "/add A claim from chat", "ana"), NOW)
    assert "Recorded <b>#2</b>" in plain.text  # nothing to understand: recorded at once, as before


def test_the_edited_one_line_add_replaces_the_draft(service: tuple[Store, ChatService]) -> None:
    store, chat = service
    chat.handle(Incoming(ANA, ANA, "/add Will Power of Siberia 2 be signed by end of 2026? 30%", "ana"), NOW)
    chat.handle(Incoming(ANA, ANA, "edit", "ana", pressed=True), NOW)
    replies = chat.handle(Incoming(ANA, ANA, "/add Will it be signed by end of 2027? | p 20%", "ana"), NOW)
    assert "was dropped; nothing of it was saved" in replies[0].text and "Recorded <b>#1</b>" in replies[1].text
    assert len(replies) == 2 and store.get_claim(1).p == 0.2  # no "draft kept" question after it


def test_a_forwarded_message_offers_a_claim_with_the_message_as_its_source(service: tuple[Store, ChatService]) -> None:
    store, chat = service
    origin = Source(title="Reuters World", url="https://t.me/reuters_world/812", published=NOW.date())
    text = "Gazprom says the Power of Siberia 2 contract will be signed by mid-2027. Talks go on in Beijing."
    (offer,) = chat.handle(Incoming(ANA, ANA, text, "ana", forwarded=origin), NOW)
    assert offer.text.startswith("Record a claim from this message?")
    assert "source: Reuters World · https://t.me/reuters_world/812" in offer.text and "review: 2027-07-01" in offer.text
    chat.handle(Incoming(ANA, ANA, "save", "ana", pressed=True), NOW)
    claim = store.get_claim(1)
    assert claim.text == "Gazprom says the Power of Siberia 2 contract will be signed by mid-2027."
    assert (claim.source.url, claim.source.quote) == ("https://t.me/reuters_world/812", text)
    (stranger,) = chat.handle(Incoming(9, 9, text, "x", forwarded=origin), NOW + timedelta(seconds=1))
    assert "invite-only" in stranger.text and len(store.find_claims()) == 1


def test_quick_add_on_the_command_line(tmp_path: Path, data: Path | str) -> None:
    added = run_cli("add", "Will Power of Siberia 2 be signed by end of 2026? 30%", data=data)
    assert added.stdout.splitlines() == [
        "added #19: Will Power of Siberia 2 be signed by end of 2026?",
        "  understood: a forecast, review 2026-12-31 (from 'end of 2026'), probability 30%, watch Power of Siberia 2 "
        "(claimwatch edit 19 due|p|watch … to change)"]
    plain = run_cli("add", "Power of Siberia 2 deal stalls", "--tags", "energy", data=data)
    assert plain.stdout == "added #20: Power of Siberia 2 deal stalls\n"  # an option given: read as written
    statement = run_cli("add", "Gazprom says the deal stalls, 60%", data=data)
    assert "understood: a claim," in statement.stdout
    told = run_cli("add", "Will the deal stall by 2027? 60%", "--kind", "claim", data=data)
    assert "understood: a claim," in told.stdout  # as told
    kinds = {c["number"]: c["kind"] for c in json.loads(run_cli("list", "all", "--json", data=data).stdout)}
    assert [kinds[n] for n in (19, 20, 21, 22)] == ["forecast", "claim", "claim", "claim"]


@pytest.mark.parametrize("sentence, kind", [
    ("Will Power of Siberia 2 be signed by end of 2026? 30%", Kind.FORECAST),
    ("Будет ли подписан контракт до конца 2027 года? 30%", Kind.FORECAST),
    ("«Будет ли подписан контракт до конца 2027 года?»", Kind.FORECAST),  # a quoted question
    ("Gazprom says the contract is signed by 2027, 30%", Kind.CLAIM),
])
def test_a_question_is_a_forecast_a_statement_a_claim(sentence: str, kind: Kind) -> None:
    assert read_quick_claim(sentence, NOW, UTC_TZ).kind is kind


def test_a_probability_out_of_range_is_refused_not_kept_in_the_text() -> None:
    with pytest.raises(InputError, match="outside 0-100%"):
        read_quick_claim("Will Power of Siberia 2 be signed by end of 2026? 130%", NOW, UTC_TZ)


def test_a_link_sent_alone_offers_the_one_line_add_with_it_as_the_source(service: tuple[Store, ChatService]) -> None:
    store, chat = service
    (offer,) = chat.handle(Incoming(ANA, ANA, "https://news.example/pos2-talks", "ana"), NOW)
    assert "Record a claim from this link?" in offer.text
    assert "/add &lt;what is claimed&gt; | source https://news.example/pos2-talks" in offer.text
    (plain,) = chat.handle(Incoming(ANA, ANA, "just some words", "ana"), NOW)
    assert "Send a command" in plain.text
