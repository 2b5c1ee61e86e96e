"""The chat command layer that the bot and the console share: roles, buttons, conversation, paging."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from claimwatch import ledger
from claimwatch.chat import CONVERSATION_TIMEOUT, PAGE_SIZE, ChatService, ChatSettings, Incoming, Reply
from claimwatch.model import OutcomeValue, Role
from claimwatch.store import Store

from conftest import NOW, UTC_TZ

ADMIN, ANALYST, SUBSCRIBER, STRANGER = 1, 2, 3, 4


@pytest.fixture
def service(store: Store) -> ChatService:
    store.set_role(ANALYST, Role.ANALYST, "ana", "test", NOW)
    store.set_role(SUBSCRIBER, Role.SUBSCRIBER, "sub", "test", NOW)
    for i in range(1, 4):
        ledger.add_claim(store, ledger.NewClaim(text=f"Claim {i}", tags=("energy",)), "seed", NOW)
    return ChatService(store, ChatSettings(UTC_TZ, frozenset({ADMIN}), "invite", "claimwatch_test_bot"))


def say(service: ChatService, user: int, text: str, *, pressed: bool = False, chat: int | None = None,
        chat_type: str = "private", at=NOW) -> list[Reply]:
    return service.handle(Incoming(user, user if chat is None else chat, text, f"user{user}", chat_type,
                                   pressed=pressed), at)


def text(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def buttons(replies: list[Reply]) -> dict[str, str]:
    return {b.label: b.command for r in replies for row in r.buttons for b in row}


def test_strangers_get_a_polite_refusal_in_invite_mode(service: ChatService) -> None:
    for command in ("/start", "/help", "/list", "/show 1", "/subscribe all", "/forecast 1 50%", "hello"):
        assert "invite-only" in text(say(service, STRANGER, command))
    assert service.store.subscriptions() == []


def test_open_mode_lets_anyone_read_and_subscribe_but_not_write(service: ChatService) -> None:
    service.settings = ChatSettings(UTC_TZ, frozenset({ADMIN}), "open", "claimwatch_test_bot")
    assert "Claim 1" in text(say(service, STRANGER, "/list"))
    assert "Subscribed to all claims" in text(say(service, STRANGER, "/subscribe"))
    assert "/forecast is for analysts" in text(say(service, STRANGER, "/forecast 1 50%"))
    assert service.store.get_claim(1).forecasts == ()


@pytest.mark.parametrize("user, command, allowed", [
    (SUBSCRIBER, "/add New claim", False), (ANALYST, "/add New claim", True),
    (SUBSCRIBER, "/resolve 1 true", False), (ANALYST, "/resolve 1 true", True),
    (ANALYST, "/grant 7 analyst", False), (ADMIN, "/grant 7 analyst", True),
    (ANALYST, "/users", False), (ADMIN, "/users", True),
])
def test_commands_check_the_role_when_they_run(service: ChatService, user: int, command: str, allowed: bool) -> None:
    replies = say(service, user, command)
    assert ("is for " not in text(replies)) == allowed


def test_a_forged_button_does_no_more_than_its_presser_could_type(service: ChatService) -> None:
    assert "invite-only" in text(say(service, STRANGER, "/resolve 1 true !", pressed=True))
    assert "is for analysts" in text(say(service, SUBSCRIBER, "/resolve 1 true !", pressed=True))
    assert "is for admins" in text(say(service, SUBSCRIBER, "/grant 3 admin", pressed=True))
    assert "I don't know" in text(say(service, SUBSCRIBER, "/x" + "\x00" * 10, pressed=True))
    assert service.store.get_claim(1).outcome is None
    assert service.store.user(SUBSCRIBER).role == Role.SUBSCRIBER


def test_resolving_by_button_asks_for_confirmation_first(service: ChatService) -> None:
    choices = buttons(say(service, ANALYST, "/show 1"))
    outcomes = buttons(say(service, ANALYST, choices["Resolve…"], pressed=True))
    confirm = say(service, ANALYST, outcomes["false"], pressed=True)
    assert "Record #1 as <b>false</b>?" in text(confirm) and confirm[0].edit
    assert service.store.get_claim(1).outcome is None
    say(service, ANALYST, buttons(confirm)["Yes, false"], pressed=True)
    assert service.store.get_claim(1).outcome.value == OutcomeValue.FALSE
    assert service.store.get_claim(1).outcome.by == "user2"


def test_forecast_buttons_record_the_pressed_probability(service: ChatService) -> None:
    choices = buttons(say(service, ANALYST, "/forecast 2"))
    assert list(choices) == ["5%", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "95%"]
    say(service, ANALYST, choices["70%"], pressed=True)
    assert [(f.by, f.p) for f in service.store.get_claim(2).forecasts] == [("user2", 0.7)]


def test_forecast_takes_estimative_phrases_of_several_words_and_a_note(service: ChatService) -> None:
    assert "87.5%" in text(say(service, ANALYST, "/forecast 2 very likely"))
    assert "97%" in text(say(service, ANALYST, "/forecast 2 almost certain  talks\nresumed"))
    assert "87.5%" in text(say(service, ANALYST, "/forecast 2 highly likely"))
    assert "70%" in text(say(service, ANALYST, "/forecast 2 0,7"))
    assert [(f.p, f.note) for f in service.store.get_claim(2).forecasts] == [
        (0.875, ""), (0.97, "talks\nresumed"), (0.875, ""), (0.7, "")]


def test_add_with_parts_records_every_field(service: ChatService) -> None:
    replies = say(service, ANALYST, "/add Pipeline deal signed | due 2026-12-31 | p likely | tags energy, russia | "
                                    "watch Power of Siberia 2, +gas | source https://example.org/r | kind forecast")
    assert "Recorded <b>#4</b>" in text(replies)
    claim = service.store.get_claim(4)
    assert (claim.text, str(claim.review_date), claim.p, claim.tags, claim.watch, claim.source.url, claim.kind.value) == (
        "Pipeline deal signed", "2026-12-31", 0.675, ("energy", "russia"), ("Power of Siberia 2", "+gas"),
        "https://example.org/r", "forecast")


def test_a_review_date_in_the_past_is_recorded_with_a_warning(service: ChatService) -> None:
    replies = text(say(service, ANALYST, "/add Summit held | due 31/12/2025"))
    assert "Recorded <b>#4</b>" in replies and "the review date 2025-12-31 is in the past" in replies
    assert "in the past" not in text(say(service, ANALYST, "/add Summit next year | due Q2 2027"))
    assert "in the past" in text(say(service, ANALYST, "/edit 5 due 2026-03-01"))
    assert str(service.store.get_claim(5).review_date) == "2026-03-01"


def test_guided_add_walks_through_each_step(service: ChatService) -> None:
    assert "What is claimed" in text(say(service, ANALYST, "/add"))
    assert "Review date?" in text(say(service, ANALYST, "Arctic route opens"))
    assert "cannot read" in text(say(service, ANALYST, "someday"))  # a bad answer is asked again
    assert "Probability" in text(say(service, ANALYST, "end of June"))
    assert "Tags and watch terms" in text(say(service, ANALYST, "skip", pressed=True))
    summary = text(say(service, ANALYST, "tags arctic | watch Northern Sea Route"))
    assert "review: 2026-06-30" in summary and "watch: Northern Sea Route" in summary
    assert "Recorded <b>#4</b>" in text(say(service, ANALYST, "save", pressed=True))
    claim = service.store.get_claim(4)
    assert (claim.text, str(claim.review_date), claim.p, claim.tags) == ("Arctic route opens", "2026-06-30", None,
                                                                         ("arctic",))


def test_guided_add_takes_bare_tags_and_refuses_a_phrase_as_tags(service: ChatService) -> None:
    for answer in ("/add", "EU extends sanctions", "skip", "skip"):
        say(service, ANALYST, answer)
    refused = text(say(service, ANALYST, "Power of Siberia 2"))
    assert "'Power of Siberia 2' is not a tag" in refused and "watch" in refused
    summary = text(say(service, ANALYST, "sanctions, #EU | watch EU sanctions"))
    assert "tags: sanctions, eu" in summary and "watch: EU sanctions" in summary
    assert "Recorded <b>#4</b>" in text(say(service, ANALYST, "save"))
    assert service.store.get_claim(4).tags == ("sanctions", "eu")


def test_a_command_while_a_draft_waits_keeps_it_and_says_so(service: ChatService) -> None:
    for answer in ("/add", "EU extends sanctions", "skip", "skip", "sanctions, eu"):
        say(service, ANALYST, answer)
    replies = say(service, ANALYST, "/list")
    assert "Claim 1" in replies[0].text
    assert replies[-1].text.startswith("Your /add draft is kept. Save this claim?")
    assert [b.label for row in replies[-1].buttons for b in row] == ["Save", "Edit", "Cancel"]
    again = say(service, ANALYST, "/show 99")  # an error too; from the second command on, a line
    assert again[-1].text == "(Your /add draft still waits: EU extends sanctions. /cancel drops it.)"
    assert [b.label for row in again[-1].buttons for b in row] == ["Save", "Edit", "Cancel"]
    assert "Recorded <b>#4</b>" in text(say(service, ANALYST, "save"))
    say(service, ANALYST, "/add")
    say(service, ANALYST, "Arctic route opens")
    replies = say(service, ANALYST, "/add")
    assert "earlier draft (Arctic route opens) was dropped" in replies[0].text and "What is claimed" in replies[1].text
    assert len(service.store.find_claims()) == 4


def test_guided_add_can_be_cancelled_and_times_out(service: ChatService) -> None:
    say(service, ANALYST, "/add")
    assert "Cancelled" in text(say(service, ANALYST, "/cancel"))
    assert "Send a command" in text(say(service, ANALYST, "orphan text"))
    say(service, ANALYST, "/add")
    late = NOW + CONVERSATION_TIMEOUT + timedelta(seconds=1)
    assert "timed out" in text(say(service, ANALYST, "Too late", at=late))
    assert len(service.store.find_claims()) == 3


def test_guided_add_stops_when_the_role_is_revoked_midway(service: ChatService) -> None:
    say(service, ANALYST, "/add")
    say(service, ADMIN, f"/revoke {ANALYST}")
    service.settings = ChatSettings(UTC_TZ, frozenset({ADMIN}), "open", "claimwatch_test_bot")
    assert "Only analysts" in text(say(service, ANALYST, "A claim"))
    assert len(service.store.find_claims()) == 3


def test_invite_says_an_analyst_and_without_a_bot_explains_without_a_usage_line(service: ChatService) -> None:
    assert "One-time invite for an analyst: https://t.me/" in text(say(service, ADMIN, "/invite analyst"))
    assert "One-time invite for a subscriber: https://t.me/" in text(say(service, ADMIN, "/invite subscriber"))
    service.settings = ChatSettings(UTC_TZ, frozenset({ADMIN}), "invite", "")  # the console knows no bot
    reply = text(say(service, ADMIN, "/invite analyst"))
    assert "Invite links are made by the Telegram bot" in reply and "/grant" in reply and "Usage" not in reply


def test_invite_link_grants_its_role_once(service: ChatService) -> None:
    reply = text(say(service, ADMIN, "/invite analyst"))
    link = reply.split("https://t.me/claimwatch_test_bot?start=", 1)[1].split()[0]
    assert "Welcome! The invite makes you an analyst" in text(say(service, STRANGER, f"/start {link}"))
    assert service.role_of(STRANGER) == Role.ANALYST
    assert "used already" in text(say(service, 5, f"/start {link}"))
    assert service.role_of(5) is None
    assert "not valid" in text(say(service, 5, "/start forged-token"))


def test_list_pages_with_buttons(service: ChatService) -> None:
    for i in range(4, 4 + 2 * PAGE_SIZE):
        ledger.add_claim(service.store, ledger.NewClaim(text=f"Claim {i}"), "seed", NOW)
    first = say(service, SUBSCRIBER, "/list")
    assert "page 1 of 3" in text(first) and "#1 " in text(first).replace("</b>", " ").replace("<b>", "")
    nxt = buttons(first)["Next »"]
    second = say(service, SUBSCRIBER, nxt, pressed=True)
    assert "page 2 of 3" in text(second) and second[0].edit
    assert set(buttons(second)) >= {"« Previous", "Next »"}
    assert "page 3 of 3" in text(say(service, SUBSCRIBER, "/list p:99"))


@pytest.mark.parametrize("words", ["", "due", "all", "#energy", "claim", "deleted", "resolved"])
def test_list_shows_the_page_of_what_the_command_line_lists(service: ChatService, words: str) -> None:
    """The chat makes only the claims of the page it shows: the same claims, in the same order (due ones by review
    date), as ledger.list_claims lists whole."""
    store = service.store
    for i in range(25):
        claim = ledger.add_claim(store, ledger.NewClaim(text=f"Claim {i + 4}", tags=("energy",) if i % 3 else (),
                                                        review_date=date(2026, 3, 1) - timedelta(days=i % 7)),
                                 "seed", NOW)
        if i % 5 == 0:
            ledger.resolve(store, claim.id, OutcomeValue.TRUE, "seed", NOW)
    gone = ledger.add_claim(store, ledger.NewClaim(text="Gone", tags=("gone",)), "seed", NOW)
    ledger.delete_claim(store, gone.id, "seed", NOW)
    listed = ledger.list_claims(store, words.split(), NOW.date())
    assert listed
    for page in range(1, -(-len(listed) // PAGE_SIZE) + 1):
        shown = re.findall(r"#(\d+)", text(say(service, SUBSCRIBER, f"/list {words} p:{page}")).split("\n", 1)[1])
        assert [int(n) for n in dict.fromkeys(shown)] == [c.id for c in listed[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]]


def test_list_of_a_tag_only_deleted_claims_have_names_it_as_unknown(service: ChatService) -> None:
    gone = ledger.add_claim(service.store, ledger.NewClaim(text="Gone", tags=("gone",)), "seed", NOW)
    ledger.delete_claim(service.store, gone.id, "seed", NOW)
    assert "no claim has the tag #gone" in text(say(service, SUBSCRIBER, "/list #gone"))


def test_group_commands_addressed_to_this_bot_or_none(service: ChatService) -> None:
    group = -1001
    assert "Claim 1" in text(say(service, SUBSCRIBER, "/list@claimwatch_test_bot", chat=group, chat_type="supergroup"))
    assert say(service, SUBSCRIBER, "/list@other_bot", chat=group, chat_type="supergroup") == []
    assert say(service, SUBSCRIBER, "just talking", chat=group, chat_type="supergroup") == []
    assert say(service, STRANGER, "a stranger talking", chat=group, chat_type="supergroup") == []
    assert "invite-only" in text(say(service, STRANGER, "/list", chat=group, chat_type="supergroup"))
    say(service, SUBSCRIBER, "/subscribe #energy", chat=group, chat_type="supergroup")
    assert [s.target for s in service.store.subscriptions(group)] == ["#energy"]
    assert service.store.subscriptions(SUBSCRIBER) == []


def test_user_text_is_escaped(service: ChatService) -> None:
    say(service, ANALYST, "/add <b>bold</b> & <script> | tags x")
    shown = text(say(service, SUBSCRIBER, "/show 4"))
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in shown and "<script>" not in shown


def test_a_one_line_add_says_how_its_probability_was_read(service: ChatService) -> None:
    assert "Source's probability: 1.5%." in text(say(service, ANALYST, "/add Deal signed | p 1.5"))
    assert "Source's probability" not in text(say(service, ANALYST, "/add Deal stalls"))


def test_start_gives_a_few_commands_to_begin_with_and_help_gives_them_all(service: ChatService) -> None:
    start, help_ = text(say(service, ANALYST, "/start")), text(say(service, ANALYST, "/help"))
    begin = [line for line in start.splitlines() if line.startswith("<code>/")]
    every = [line for line in help_.splitlines() if line.startswith("<code>/")]
    assert 5 <= len(begin) < len(every) and set(begin) < set(every)
    assert f"/help lists all {len(every)} commands you can use." in start
    assert "<code>/add " in start and "<code>/grant " not in start  # an analyst's, not an admin's
    assert "<code>/add " not in text(say(service, SUBSCRIBER, "/start"))


def test_edit_changes_one_field_with_history(service: ChatService) -> None:
    assert text(say(service, ANALYST, "/edit 1 due 2027-01-31")) == "#1 updated: due (now 2027-01-31)."
    assert text(say(service, ANALYST, "/edit 1 tags arctic, shipping")) == "#1 updated: tags."
    assert "cannot be edited" in text(say(service, ANALYST, "/edit 1 colour red"))
    claim = service.store.get_claim(1)
    assert (str(claim.review_date), claim.tags) == ("2027-01-31", ("arctic", "shipping"))
    edits = [c for c in service.store.history(1) if c.action == "edit"]
    assert [(c.before, c.after) for c in edits] == [({"review_date": None}, {"review_date": "2027-01-31"}),
                                                    ({"tags": ["energy"]}, {"tags": ["arctic", "shipping"]})]


def test_subscriptions_list_with_unsubscribe_buttons(service: ChatService) -> None:
    say(service, SUBSCRIBER, "/subscribe 2")
    say(service, SUBSCRIBER, "/subscribe all")
    assert "follows all claims already" in text(say(service, SUBSCRIBER, "/subscribe all"))
    listed = say(service, SUBSCRIBER, "/subscriptions")
    assert "claim #2" in text(listed)
    say(service, SUBSCRIBER, buttons(listed)["Unsubscribe 2"], pressed=True)
    assert [s.target for s in service.store.subscriptions(SUBSCRIBER)] == ["all"]
    assert "no such subscription" in text(say(service, SUBSCRIBER, "/unsubscribe 3"))
    assert "there is no claim #999" in text(say(service, SUBSCRIBER, "/unsubscribe 999"))
    assert "there is no claim #999" in text(say(service, SUBSCRIBER, "/subscribe 999"))


def test_admins_from_settings_cannot_be_revoked_in_chat(service: ChatService) -> None:
    assert "CLAIMWATCH_ADMINS" in text(say(service, ADMIN, f"/revoke {ADMIN}"))
    assert service.role_of(ADMIN) == Role.ADMIN


def test_blocked_chats_are_listed_as_inactive_and_come_back(service: ChatService) -> None:
    service.seen(Incoming(SUBSCRIBER, SUBSCRIBER, "/help", "sub"), NOW)
    service.chat_unreachable(SUBSCRIBER, "Forbidden: bot was blocked by the user", NOW)
    assert "inactive" in text(say(service, ADMIN, "/users"))
    service.seen(Incoming(SUBSCRIBER, SUBSCRIBER, "/help", "sub"), NOW)
    assert service.store.chat(SUBSCRIBER).active


def test_feeds_and_evidence_in_chat(service: ChatService) -> None:
    from claimwatch.model import Evidence, Stance

    assert "/addfeed is for admins" in text(say(service, ANALYST, "/addfeed https://news.example/rss News"))
    assert "Watching feed 1: News" in text(say(service, ADMIN, "/addfeed https://news.example/rss News"))
    assert "watched already" in text(say(service, ADMIN, "/addfeed https://news.example/rss"))
    for bad in ("ftp://x", "https://", "https:// spaced.example/rss"):
        assert "is not a web address" in text(say(service, ADMIN, f"/addfeed {bad}")), bad
    assert "Watching feed 2" in text(say(service, ADMIN, "/addfeed HTTPS://Wire.example/rss Wire"))  # any case
    local = text(say(service, ADMIN, "/addfeed http://10.1.2.3/rss Intranet"))
    assert local == ("Watching feed 3: Intranet. ⚠️ The watcher will not fetch it: 10.1.2.3 resolves to a private or "
                     "local address; set CLAIMWATCH_ALLOW_PRIVATE_FEEDS=1 to allow it.")
    service.store.remove_feed(3)
    assert len(service.store.feeds()) == 2
    assert "News &lt;https://news.example/rss&gt; — not checked yet" in text(say(service, SUBSCRIBER, "/feeds"))
    service.store.add_evidence([Evidence(0, 1, "https://news.example/1", "<Pipeline> news", NOW, feed="News",
                                         matched=("pipeline",))])
    shown = say(service, ANALYST, "/evidence 1")
    assert "&lt;Pipeline&gt; news" in text(shown)
    say(service, ANALYST, buttons(shown)["[1] contradicts"], pressed=True)
    assert service.store.evidence_for(1)[0].stance == Stance.CONTRADICTS
    assert buttons(say(service, SUBSCRIBER, "/evidence 1")) == {}  # readers see, analysts label
    assert "/label is for analysts" in text(say(service, SUBSCRIBER, "/label 1 1 supports"))
    assert "not a stance" in text(say(service, ANALYST, "/label 1 1 maybe"))
    assert "labelled contradicts already; nothing changed" in text(say(service, ANALYST, "/label 1 1 contradicts"))
    assert [c.action for c in service.store.history(1)].count("label") == 1
    assert "Stopped watching News" in text(say(service, ADMIN, "/removefeed 1"))
    assert [f.name for f in service.store.feeds()] == ["Wire"]


def test_a_source_link_is_checked_as_on_the_command_line(service: ChatService) -> None:
    before = service.store.find_claims()
    for command in ("/add New | source http://a b", "/add New | source https://", "/edit 1 source HTTP://x y"):
        assert "is not a web address" in text(say(service, ANALYST, command))
    assert service.store.find_claims() == before


def test_an_edit_that_changes_nothing_records_nothing_and_history_reads_as_text(service: ChatService) -> None:
    assert "source is that already" in text(say(service, ANALYST, "/edit 1 source none"))
    assert "p is that already" in text(say(service, ANALYST, "/edit 1 p none"))
    assert [c.action for c in service.store.history(1)] == ["add"]
    say(service, ANALYST, "/edit 1 tags none")
    say(service, ANALYST, "/edit 1 p 70%")
    say(service, ANALYST, "/edit 1 source https://r.example/1")
    lines = text(say(service, ANALYST, "/history 1")).splitlines()[-3:]
    assert [line.split("</b> ", 1)[1] for line in lines] == [
        "tags none (was tags energy)", "p 70% (was p none)", "source https://r.example/1 (was source none)"]


def test_subscribe_names_a_word_that_is_not_a_kind_of_alert(service: ChatService) -> None:
    assert "'bogus' is not a kind of alert: use evidence" in text(say(service, SUBSCRIBER, "/subscribe all bogus"))
    assert "one target at a time" in text(say(service, SUBSCRIBER, "/subscribe all #energy"))
    assert service.store.subscriptions() == []


def test_a_claims_text_cannot_be_cleared(service: ChatService) -> None:
    for value in ("none", "None", "-"):
        assert "text cannot be cleared" in text(say(service, ANALYST, f"/edit 1 text {value}"))
    assert service.store.get_claim(1).text == "Claim 1"
    assert [c.action for c in service.store.history(1)] == ["add"]
    say(service, ANALYST, "/edit 1 text none of the ministers came")  # a text that starts with the word is fine
    assert service.store.get_claim(1).text == "none of the ministers came"


def test_a_claims_text_may_not_hold_control_characters(service: ChatService) -> None:
    assert "cannot hold control characters (\\x1b)" in text(say(service, ANALYST, "/add ctl \x1b[31mred"))
    assert "cannot hold control characters (\\x07)" in text(say(service, ANALYST, "/edit 1 text ring \x07"))
    assert [c.text for c in service.store.find_claims()] == ["Claim 1", "Claim 2", "Claim 3"]


def test_resolve_takes_the_day_it_happened(service: ChatService) -> None:
    say(service, ANALYST, "/forecast 1 70%")
    event = (NOW - timedelta(days=30)).date()
    said = text(say(service, ANALYST, f"/resolve 1 true on {event} talks collapsed"))
    outcome = service.store.get_claim(1).outcome
    assert (outcome.event_date, outcome.note) == (event, "talks collapsed")
    assert "made after the event" in said  # the forecast came after it: not scored
    assert "in the future" in text(say(service, ANALYST, "/resolve 2 true --date 2099-01-01"))
    assert service.store.get_claim(2).outcome is None
    say(service, ANALYST, "/resolve 2 false on Tuesday the talks collapsed")  # no ISO date: a note
    outcome = service.store.get_claim(2).outcome
    assert (outcome.event_date, outcome.note) == (None, "on Tuesday the talks collapsed")
    say(service, ANALYST, f"/resolve 3 void --date {event}")
    assert service.store.get_claim(3).outcome.event_date == event


def test_snooze_refuses_a_resolved_claim_as_forecast_does(service: ChatService) -> None:
    say(service, ANALYST, "/resolve 1 true")
    for command in ("/snooze 1 7", "/snooze 1"):
        assert "#1 is resolved (true); reopen it" in text(say(service, ANALYST, command))
    assert service.store.get_claim(1).review_date is None
    assert [c.action for c in service.store.history(1)] == ["add", "resolve"]


def test_unmute_says_when_a_claim_was_not_muted(service: ChatService) -> None:
    assert text(say(service, SUBSCRIBER, "/unmute 3")) == "#3 was not muted here."
    say(service, SUBSCRIBER, "/mute 3")
    assert text(say(service, SUBSCRIBER, "/unmute 3")) == "#3 is no longer muted here."


def test_stats_with_nothing_to_chart_sends_no_chart(service: ChatService) -> None:
    replies = say(service, SUBSCRIBER, "/stats #energy")
    assert [r.attachment for r in replies] == [None] and "no resolved claims" in replies[0].text
    say(service, ANALYST, "/forecast 1 70%")
    say(service, ANALYST, "/resolve 1 true", at=NOW + timedelta(minutes=1))
    chart = say(service, SUBSCRIBER, "/stats #energy")[-1].attachment
    assert chart.filename == "calibration.png"
    assert b"Title\x00Calibration of analysts' forecasts (#energy)" in chart.content  # the PNG says what it shows


@pytest.mark.parametrize("command, says", [
    ("/stats #", "'#' is not a tag"), ("/stats #energy #trade", "one #tag at a time"),
    ("/leaderboard #", "'#' is not a tag"), ("/stats @", "name after @ cannot be blank"),
    ("/stats @ana @bob", "one @analyst at a time"),
    ("/list #energy #trade", "list one #tag at a time"), ("/list open resolved", "not both: open and resolved"),
    ("/stats @nobody", "'nobody' has made no forecast here"), ("/stats #energie", "did you mean #energy?"),
    ("/list @nobody", "'nobody' has made no forecast here"),
])
def test_stats_and_list_refuse_what_the_command_line_refuses(service: ChatService, command: str, says: str) -> None:
    replies = say(service, SUBSCRIBER, command)
    assert len(replies) == 1 and replies[0].attachment is None
    assert replies[0].text.startswith("⚠️") and says in replies[0].text
