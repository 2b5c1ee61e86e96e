"""The Telegram bot end to end: the real PTB Application against the fake Bot API server over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, time as clock_time, timedelta
from pathlib import Path

import pytest

from telegram import Update
from telegram.ext import TypeHandler

from claimwatch import ledger
from claimwatch.chat import ChatService, ChatSettings, menu
from claimwatch.model import NewsItem, Role, Source
from claimwatch.render import utf16_len
from claimwatch.store import Store, open_store
from claimwatch.telegram_bot import build_application

from conftest import NOW, ROOT, UTC_TZ, cwd_of, files_of, store_config
from fakebot import FakeBotAPI, Sent, running

ADMIN, ANALYST, SUBSCRIBER, STRANGER = 101, 102, 103, 104
GROUP = -100500


@dataclass
class Harness:
    api: FakeBotAPI
    store: Store
    now: datetime = NOW  # the bot's clock; tests move it
    handled: set[int] | None = None  # update ids the bot has finished with, when the test runs the bot
    service: ChatService | None = None  # the bot's chat layer, when the test runs the bot

    def say(self, user: int, text: str, *, chat: int | None = None, chat_type: str = "private",
            forward_origin: dict | None = None) -> Sent:
        """Send as `user` (forwarding a message from `forward_origin`); the bot's first answer in that chat,
        once it has finished answering."""
        chat_id = user if chat is None else chat
        mark = self.api.mark()
        update = self.api.user_message(user, text, chat_id=chat if chat is not None else None, chat_type=chat_type,
                                       first_name=f"user{user}", username=f"user{user}", forward_origin=forward_origin)
        return self._reply(chat_id, mark, update)

    def _reply(self, chat_id: int, mark: int, update: int) -> Sent:
        reply = self.api.wait_reply(chat_id, mark)
        # a long answer comes in pieces: wait for the last, or it would be taken for the next answer
        deadline = time.monotonic() + 10
        while self.handled is not None and update not in self.handled:
            assert time.monotonic() < deadline, f"update {update} was not handled"
            time.sleep(0.002)
        return reply

    def press(self, user: int, message: Sent, label: str) -> Sent:
        """Press the button labelled `label` on `message`; the bot's answer (a new message or an edit)."""
        data = dict((text, data) for row in message.buttons for text, data in row)[label]
        return self.press_data(user, message, data)

    def press_data(self, user: int, message: Sent, data: str) -> Sent:
        mark = self.api.mark()
        update = self.api.button_press(user, data, message_id=message.message_id, chat_id=message.chat_id)
        return self._reply(message.chat_id, mark, update)


@pytest.fixture
def bot(data: Path | str) -> Iterator[Harness]:
    with FakeBotAPI() as api:
        store = open_store(data)
        ledger.load_examples(store, NOW)  # as /examples load does: the commands below act on them
        store.set_role(ANALYST, Role.ANALYST, "ana", "test", NOW)
        store.set_role(SUBSCRIBER, Role.SUBSCRIBER, "sub", "test", NOW)
        # reminders and nudges come after the day's commands here: a private chat hears only its replies
        config = store_config(data, UTC_TZ, "test", token=api.TOKEN, api_url=api.url, admins=frozenset({ADMIN}),
                              remind_at=clock_time(23, 59))
        service = ChatService(store, ChatSettings(UTC_TZ, config.admins, config.access))
        harness = Harness(api, store, handled=set(), service=service)
        app = build_application(config, service, clock=lambda: harness.now)

        async def finished(update: Update, context: object) -> None:  # runs after the bot's own handlers
            harness.handled.add(update.update_id)

        app.add_handler(TypeHandler(Update, finished), group=1)
        with running(app):
            yield harness


def labels(sent: Sent) -> list[str]:
    return [text for row in sent.buttons for text, _ in row]


def test_start_registers_commands_and_loads_the_examples_only_when_asked(bot: Harness) -> None:
    assert [(c["command"], c["description"]) for c in bot.api.commands] == menu()
    assert len(bot.store.find_claims()) == 18  # loaded by the fixture, as /examples load does
    assert "only admins" in bot.say(ANALYST, "/examples remove").text or "is for admins" in bot.say(
        ANALYST, "/examples remove").text
    assert "Deleted 18 example claims" in bot.say(ADMIN, "/examples remove").text
    assert bot.store.find_claims() == []
    assert "here already" in bot.say(ADMIN, "/examples load").text


# (command, the least role that may run it); run in this order, so each works for those allowed
COMMANDS = [
    ("/start", None), ("/help", None), ("/list energy", None), ("/show 2", None), ("/due", None),
    ("/history 2", None), ("/subscribe all", None), ("/subscriptions", None), ("/unsubscribe all", None),
    ("/add A claim from chat", Role.ANALYST), ("/delete 19 a test", Role.ANALYST), ("/restore 19", Role.ANALYST), ("/forecast 3 40% a note", Role.ANALYST),
    ("/resolve 4 true done", Role.ANALYST), ("/reopen 4", Role.ANALYST), ("/edit 5 due 2027-01-31", Role.ANALYST),
    ("/trywatch Минск, Belarus*", None), ("/mine", None), ("/todo", None), ("/me", None), ("/cancel", None), ("/invite subscriber", Role.ADMIN), ("/grant 555 subscriber", Role.ADMIN),
    ("/revoke 555", Role.ADMIN), ("/users", Role.ADMIN), ("/web", Role.SUBSCRIBER), ("/share 6", Role.ANALYST),
    ("/unshare 6", Role.ANALYST),
]


@pytest.mark.parametrize("user, role", [(ADMIN, Role.ADMIN), (ANALYST, Role.ANALYST),
                                        (SUBSCRIBER, Role.SUBSCRIBER), (STRANGER, None)],
                         ids=["admin", "analyst", "subscriber", "stranger"])
def test_every_command_for_every_role(bot: Harness, user: int, role: Role | None) -> None:
    for command, needed in COMMANDS:
        reply = bot.say(user, command)
        assert reply.parse_mode == "HTML"
        if role is None:
            assert "invite-only" in reply.text, command
        elif needed is not None and not role.allows(needed):
            assert f"is for {needed.value}s" in reply.text, command
        else:
            assert "is for " not in reply.text and "⚠️" not in reply.text, (command, reply.text)
    if role is not None and role.allows(Role.ANALYST):
        claim = bot.store.get_claim(19)
        assert claim.text == "A claim from chat" and claim.created_by == f"user{user}"
        assert [(f.by, f.p, f.note) for f in bot.store.get_claim(3).forecasts] == [(f"user{user}", 0.4, "a note")]
        assert bot.store.get_claim(4).outcome is None  # resolved, then reopened
        assert [c.action for c in bot.store.history(4)][-2:] == ["resolve", "reopen"]
    else:
        assert len(bot.store.find_claims()) == 18
        assert bot.store.get_claim(3).forecasts == ()


def test_show_buttons_forecast_and_subscribe(bot: Harness) -> None:
    shown = bot.say(ANALYST, "/show 3")
    assert labels(shown) == ["Forecast…", "Resolve…", "Subscribe", "History"]
    choices = bot.press(ANALYST, shown, "Forecast…")
    assert labels(choices)[:3] == ["5%", "10%", "20%"]
    done = bot.press(ANALYST, choices, "70%")
    assert done.method == "editMessageText" and "your forecast is 70%" in done.text
    bot.press(ANALYST, shown, "Subscribe")
    assert [s.target for s in bot.store.subscriptions(ANALYST)] == ["3"]
    assert [(f.by, f.p) for f in bot.store.get_claim(3).forecasts] == [("user102", 0.7)]
    assert bot.api.answered_callbacks, "every press is answered so the client stops its spinner"


def test_show_opens_the_claim_in_the_browser_with_the_public_url_set(bot: Harness) -> None:
    assert bot.service is not None
    bot.service.settings = replace(bot.service.settings, public_url="https://claims.example.org")
    shown = bot.say(ANALYST, "/show 3")
    assert ("Open in browser", "https://claims.example.org/claims/3") in [b for row in shown.buttons for b in row]
    link = bot.say(ANALYST, "/web").text
    assert "https://claims.example.org/signin?token=" in link and "once, within 10 minutes" in link


def test_resolve_by_buttons_asks_to_confirm(bot: Harness) -> None:
    outcomes = bot.press(ANALYST, bot.say(ANALYST, "/show 6"), "Resolve…")
    confirm = bot.press(ANALYST, outcomes, "false")
    assert confirm.method == "editMessageText" and "Record #6 as <b>false</b>?" in confirm.text
    assert bot.store.get_claim(6).outcome is None
    bot.press(ANALYST, confirm, "Yes, false")
    assert bot.store.get_claim(6).outcome.value.value == "false"


def test_a_forged_button_from_a_stranger_does_nothing(bot: Harness) -> None:
    refusal = bot.say(STRANGER, "/start")
    for data in ("/resolve 1 true !", "/grant 104 admin", "/forecast 1 90%", "garbage\x00"):
        assert "invite-only" in bot.press_data(STRANGER, refusal, data).text
    subscriber_view = bot.say(SUBSCRIBER, "/show 1")
    assert "is for analysts" in bot.press_data(SUBSCRIBER, subscriber_view, "/resolve 1 true !").text
    assert bot.store.get_claim(1).outcome is None and bot.store.get_claim(1).forecasts == ()
    assert bot.store.user(STRANGER) is None


def test_guided_add_in_chat(bot: Harness) -> None:
    assert "What is claimed" in bot.say(ANALYST, "/add").text
    due = bot.say(ANALYST, "Transit via Russia doubles by 2027")
    probability = bot.press(ANALYST, due, "Skip")
    assert "Probability" in probability.text
    assert "Tags and watch terms" in bot.say(ANALYST, "very likely").text
    confirm = bot.say(ANALYST, "tags transport | watch China-Europe Railway Express, 中欧班列")
    assert labels(confirm) == ["Save", "Edit", "Cancel"]
    assert "Recorded <b>#19</b>" in bot.press(ANALYST, confirm, "Save").text
    claim = bot.store.get_claim(19)
    assert (claim.p, claim.watch) == (0.875, ("China-Europe Railway Express", "中欧班列"))


def test_trywatch_add_and_evidence_show_the_words_that_matched(bot: Harness) -> None:
    bot.store.add_news([NewsItem("Лента <новости>", "https://n.example/1", "Переговоры в Минске & Бресте", "",
                                 NOW - timedelta(days=2))], NOW)
    tried = bot.say(SUBSCRIBER, "/trywatch Минск")
    assert "1 news item from the last 14 days matches" in tried.text
    assert "Переговоры в Минске &amp; Бресте" in tried.text and "Лента &lt;новости&gt;; matched Минске ← Минск" in tried.text
    added = bot.say(ANALYST, "/add Talks move to Minsk | watch Минск")
    assert "1 news item from the last 14 days matches; /evidence 19" in added.text
    assert "Минске ← Минск" in bot.say(SUBSCRIBER, "/evidence 19").text


def test_quick_add_and_a_forwarded_post_are_saved_on_one_tap(bot: Harness) -> None:
    draft = bot.say(ANALYST, "/add Will Power of Siberia 2 be signed by end of 2026? 30%")
    assert labels(draft) == ["Save", "Edit", "Cancel"] and "review: 2026-12-31" in draft.text
    assert "Recorded <b>#19</b>" in bot.press(ANALYST, draft, "Save").text
    assert (bot.store.get_claim(19).p, bot.store.get_claim(19).watch) == (0.3, ("Power of Siberia 2",))
    origin = {"type": "channel", "date": 1764000000, "message_id": 812,
              "chat": {"id": -1001, "type": "channel", "title": "Reuters World", "username": "reuters_world"}}
    offer = bot.say(ANALYST, "Power of Siberia 2 talks resume in Beijing by Q2 2027. More soon.", forward_origin=origin)
    assert offer.text.startswith("Record a claim from this message?") and "t.me/reuters_world/812" in offer.text
    assert "Recorded <b>#20</b>" in bot.press(ANALYST, offer, "Save").text
    claim = bot.store.get_claim(20)
    assert (claim.source.title, claim.source.url) == ("Reuters World", "https://t.me/reuters_world/812")
    assert claim.source.quote.endswith("More soon.") and claim.review_date.isoformat() == "2027-04-01"


def test_with_forecasts_hidden_a_second_analyst_sees_the_others_only_after_forecasting(bot: Harness) -> None:
    assert "only admins change it" in bot.say(ANALYST, "/settings hide-forecasts until-own").text
    assert "Team setting hide-forecasts: <b>until-own</b>" in bot.say(ADMIN, "/settings hide-forecasts until-own").text
    bot.say(ANALYST, "/forecast 3 40% the first view")
    shown = bot.say(ADMIN, "/show 3").text
    assert "1 forecaster, hidden until you make your own" in shown and "user102" not in shown
    assert "40%" not in bot.say(ADMIN, "/history 3").text
    bot.say(ADMIN, "/forecast 3 70%")
    shown = bot.say(ADMIN, "/show 3").text
    assert "user102: 40%" in shown and "user101: 70%" in shown and "hidden" not in shown
    assert "40%" in bot.say(ADMIN, "/history 3").text
    bot.say(ANALYST, "/forecast 5 20%")  # a resolved claim shows everything
    ledger.resolve(bot.store, 5, ledger.parse_outcome("false"), "ana", NOW)
    assert "user102: 20%" in bot.say(SUBSCRIBER, "/show 5").text


def test_a_withdrawn_forecast_is_in_the_history_and_not_scored(bot: Harness) -> None:
    bot.say(ANALYST, "/forecast 3 40% first view")
    bot.say(ANALYST, "/forecast 3 95% a typo")
    assert "your forecast is 40% again" in bot.say(ANALYST, "/forecast 3 withdraw").text
    assert "withdraw" in bot.say(ANALYST, "/history 3").text
    bot.now = NOW + timedelta(hours=1)  # the outcome comes after the forecasts
    assert "false" in bot.say(ANALYST, "/resolve 3 false").text
    stats = ledger.accuracy_review(bot.store, UTC_TZ)["by_forecaster"]["user102"]
    assert round(stats["brier"], 2) == 0.16  # the 40% counts, not the withdrawn 95%


def test_invite_link_used_twice(bot: Harness) -> None:
    link = bot.say(ADMIN, "/invite analyst").text.split("https://t.me/claimwatch_test_bot?start=")[1].split()[0]
    assert "makes you an analyst" in bot.say(STRANGER, f"/start {link}").text
    assert bot.store.user(STRANGER).role == Role.ANALYST
    assert "used already" in bot.say(105, f"/start {link}").text
    assert "invite-only" in bot.say(105, "/list").text


def test_flood_control_is_waited_out(bot: Harness) -> None:
    bot.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=SUBSCRIBER)
    reply = bot.say(SUBSCRIBER, "/help")
    assert "You are a subscriber" in reply.text
    sends = [p for m, p in bot.api.calls if m == "sendMessage" and p.get("chat_id") == SUBSCRIBER]
    assert len(sends) == 2  # refused once, sent once


def test_a_user_who_blocked_the_bot_is_marked_inactive(bot: Harness) -> None:
    bot.say(SUBSCRIBER, "/help")
    # blocked between sending /list and the reply (a message from the user lifts a block() in the fake)
    bot.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=SUBSCRIBER)
    before = len(bot.api.calls)
    bot.api.user_message(SUBSCRIBER, "/list", first_name="user103")
    deadline = time.monotonic() + 10
    while (chat := bot.store.chat(SUBSCRIBER)) is None or chat.active:
        assert time.monotonic() < deadline, "the chat was not marked inactive"
        time.sleep(0.01)
    assert "blocked" in chat.reason
    attempts = [p for m, p in bot.api.calls[before:] if m == "sendMessage"]
    assert len(attempts) == 1, "a 403 is not retried"
    assert "inactive" in bot.say(ADMIN, "/users").text
    assert "You are a subscriber" in bot.say(SUBSCRIBER, "/help").text  # writing again reactivates
    assert bot.store.chat(SUBSCRIBER).active


def test_group_chats(bot: Harness) -> None:
    reply = bot.say(SUBSCRIBER, "/list@claimwatch_test_bot energy", chat=GROUP, chat_type="supergroup")
    assert reply.chat_id == GROUP and "Power of Siberia" in reply.text
    bot.say(SUBSCRIBER, "/subscribe #energy", chat=GROUP, chat_type="supergroup")
    assert [s.target for s in bot.store.subscriptions(GROUP)] == ["#energy"]


def test_long_replies_are_split_and_buttons_go_last(bot: Harness) -> None:
    text = ". ".join(f"Sentence {i} about the Power of Siberia 2 pipeline and its prospects" for i in range(58))
    quote = "A long quote from the report. " * 20
    number = ledger.add_claim(bot.store, ledger.NewClaim(text=text, tags=("energy",), source=Source(quote=quote)),
                              "ana", NOW).id
    mark = bot.api.mark()
    bot.api.user_message(ANALYST, f"/show {number}", first_name="ana")
    first = bot.api.wait_reply(ANALYST, mark)
    second = bot.api.wait_for(lambda s: s.chat_id == ANALYST, after=bot.api.sent.index(first) + 1)
    assert "Sentence 0 " in first.text and "Sentence 57 " in first.text and "A long quote" in second.text
    assert first.buttons == [] and labels(second)[0] == "Forecast…"
    assert all(utf16_len(s.text) <= 4096 for s in (first, second))


def test_an_internal_failure_is_logged_and_the_user_told_without_details(bot: Harness, data: Path | str) -> None:
    (files_of(data) / "claims-0000.json").write_bytes(b"{broken")
    reply = bot.say(SUBSCRIBER, "/show 1")
    assert "cannot read or change its data right now" in reply.text and "claims-0000" not in reply.text
    assert bot.say(SUBSCRIBER, "/help").text.startswith("You are a subscriber")  # the bot goes on


# --- python bot.py as a user runs it ------------------------------------------------------------


def bot_env(token: str, url: str, data: Path | str) -> dict[str, str]:
    """The environment `python bot.py` runs in: this one without claimwatch's and Telegram's settings, and these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIMWATCH_", "TELEGRAM_"))}
    return env | {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_URL": url, "CLAIMWATCH_DATA": str(data),
                  "CLAIMWATCH_ADMINS": str(ADMIN)}


def start_bot(api: FakeBotAPI, data: Path | str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py")], env=bot_env(api.TOKEN, api.url, data),
                            cwd=cwd_of(data), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the start-up line
        if "serving data directory" in line or "serving the database" in line:
            assert "@claimwatch_test_bot" in line and str(data) in line and api.TOKEN not in line
            return proc
    raise AssertionError(f"the bot did not start (exit {proc.wait()})")


def stop_bot(proc: subprocess.Popen[str], api: FakeBotAPI) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert api.TOKEN not in out
    return out


@pytest.mark.parametrize("url, says", [
    (None, "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN"),
    ("http://127.0.0.1:9", "cannot reach the Telegram Bot API at http://127.0.0.1:9 ("),
], ids=["rejected-token", "no-network"])
def test_a_bot_that_cannot_start_says_why_in_one_line(tmp_path: Path, url: str | None, says: str) -> None:
    with FakeBotAPI() as api:
        result = subprocess.run([sys.executable, str(ROOT / "bot.py")], capture_output=True, text=True, timeout=60,
                                env=bot_env("123456:WRONG", url or api.url, tmp_path / "data"))
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert "WRONG" not in result.stderr


def test_a_call_the_bot_api_leaves_unanswered_times_out_and_then_goes_through(tmp_path: Path) -> None:
    from telegram.error import TimedOut

    store = open_store(tmp_path / "data")
    with FakeBotAPI() as api:
        config = store_config(tmp_path / "data", UTC_TZ, "test", token=api.TOKEN, api_url=api.url)
        bot = build_application(config, ChatService(store, ChatSettings(UTC_TZ))).bot

        async def calls() -> tuple[str, str]:
            async with bot:
                api.pause_sends()  # as a network that swallows the call
                with pytest.raises(TimedOut):
                    await bot.send_message(ADMIN, "lost", read_timeout=0.3)
                while api.sends_waiting:  # until the fake sees the call given up (its connection closed)
                    await asyncio.sleep(0.005)
                api.resume_sends()
                return (await bot.send_message(ADMIN, "<b>sent</b>", parse_mode="HTML")).text, \
                    (await bot.send_document(ADMIN, b"a,b\n", filename="x.csv")).document.file_name

        assert asyncio.run(calls()) == ("<b>sent</b>", "x.csv")
        assert [(s.text, s.parse_mode, s.file_name, s.file_bytes) for s in api.messages_to(ADMIN)] == [
            ("<b>sent</b>", "HTML", None, None), (None, None, "x.csv", b"a,b\n")]


def test_bot_py_keeps_state_across_a_restart(tmp_path: Path, data: Path | str) -> None:
    with FakeBotAPI() as api:
        harness = Harness(api, open_store(data))
        proc = start_bot(api, data)  # a new data directory starts empty: the first claim is #1
        try:
            assert "Recorded <b>#1</b>" in harness.say(ADMIN, "/add Northern Sea Route traffic doubles | tags arctic").text
            harness.say(ADMIN, "/forecast 1 65%")
            harness.say(ADMIN, "/subscribe 1")
            mark = api.mark()
            harness.say(ADMIN, "/resolve 1 partial some of it")
            # the outcome alert to this chat (subscribed) first, so that it is not taken for the answer to /history
            api.wait_for(lambda s: s.chat_id == ADMIN and "Outcome recorded" in (s.text or ""), after=mark)
            history = harness.say(ADMIN, "/history 1").text
            time.sleep(4)  # the deliver job runs every 2 s: it logs nothing unless something happens
        finally:
            out = stop_bot(proc, api)
        assert "apscheduler" not in out and "Running job" not in out and "HTTP Request" not in out, out
        for action in ("add", "forecast", "resolve"):
            assert f"<b>{action}</b>" in history

        proc = start_bot(api, data)
        try:
            assert harness.say(ADMIN, "/history 1").text == history
            assert "claim #1" in harness.say(ADMIN, "/subscriptions").text
            assert "Outcome: <b>partial</b>" in harness.say(ADMIN, "/show 1").text
        finally:
            stop_bot(proc, api)


def test_stats_sends_a_summary_and_a_calibration_chart(bot: Harness) -> None:
    for number, p in ((2, "80%"), (3, "30%"), (5, "60%")):
        bot.say(ANALYST, f"/forecast {number} {p}")
    bot.now = NOW + timedelta(days=1)  # outcomes come after the forecasts
    for number, outcome in ((2, "true"), (3, "false"), (5, "partial")):
        bot.say(ANALYST, f"/resolve {number} {outcome}")
    mark = bot.api.mark()
    bot.api.user_message(SUBSCRIBER, "/stats", first_name="sub")
    summary = bot.api.wait_reply(SUBSCRIBER, mark, timeout=30)  # the first chart imports matplotlib
    photo = bot.api.wait_for(lambda s: s.chat_id == SUBSCRIBER and s.method == "sendPhoto", after=mark, timeout=30)
    assert "3 resolved claims, 3 forecasts that count" in summary.text and "too few to judge" in summary.text
    assert photo.file_bytes.startswith(b"\x89PNG") and "Calibration (all claims)" in photo.text
    board = bot.say(SUBSCRIBER, "/leaderboard").text
    assert "user102: n = 3, too few to judge" in board


def test_export_sends_a_document(bot: Harness) -> None:
    mark = bot.api.mark()
    bot.api.user_message(SUBSCRIBER, "/export csv", first_name="sub")
    document = bot.api.wait_for(lambda s: s.chat_id == SUBSCRIBER and s.method == "sendDocument", after=mark)
    assert document.file_name.endswith(".csv") and document.file_bytes.decode().startswith("number,id,kind,text")
    assert "not an export format" in bot.say(SUBSCRIBER, "/export xml").text


def test_an_admin_sends_an_opml_file_and_its_feeds_are_watched(bot: Harness) -> None:
    opml = (b'<opml version="2.0"><body><outline text="Gas & Oil" xmlUrl="https://a.example/rss?x=1&y=2"/>'
            b'<outline text="local" xmlUrl="file:///etc/passwd"/></body></opml>')
    document = bot.api.add_file(opml, "feeds.opml", "text/x-opml")
    mark = bot.api.mark()
    bot.api.user_message(ADMIN, "", document=document, first_name="admin")
    reply = bot.api.wait_reply(ADMIN, mark)
    assert "feeds.opml: 1 feed added, 0 watched already." in reply.text and "file:///etc/passwd" in reply.text
    assert [f.url for f in bot.store.feeds()] == ["https://a.example/rss?x=1&y=2"]
    mark = bot.api.mark()
    bot.api.user_message(ANALYST, "", document=bot.api.add_file(opml, "feeds.opml"), first_name="ana")
    assert "Only admins can add feeds" in bot.api.wait_reply(ANALYST, mark).text
    assert len(bot.store.feeds()) == 1
    mark = bot.api.mark()
    bot.api.user_message(ADMIN, "", document=bot.api.add_file(b"<opml><body><outline", "cut.opml"), first_name="admin")
    assert "⚠️ no feeds could be read from the file" in bot.api.wait_reply(ADMIN, mark).text


def test_the_bot_watches_feeds_and_tells_admins_about_a_gone_feed(data: Path | str) -> None:
    from claimwatch.model import Feed
    from feedserver import FeedServer, respond

    with FakeBotAPI() as api, FeedServer() as feeds:
        feeds.routes["/gone"] = respond(status=410)
        store = open_store(data)
        store.add_feed(Feed(0, feeds.url + "/gone", "Old news", NOW, "admin"))
        config = store_config(data, UTC_TZ, "test", token=api.TOKEN, api_url=api.url,
                        admins=frozenset({ADMIN}), allow_private_feeds=True)
        service = ChatService(store, ChatSettings(UTC_TZ, config.admins, config.access))
        with running(build_application(config, service, clock=lambda: NOW, watch_every=0.2)):
            notice = api.wait_for(lambda s: s.chat_id == ADMIN and "gone" in (s.text or ""))
    assert "Feed Old news is gone (HTTP 410) and was disabled." in notice.text
    assert not store.feeds()[0].enabled


def test_a_reply_listing_huge_evidence_takes_a_few_messages(bot: Harness) -> None:
    from claimwatch.model import Evidence
    from claimwatch.telegram_bot import MAX_PIECES

    bot.store.add_evidence([Evidence(0, 1, f"https://n.example/{i}", f"title {i} " + "x " * 50_000, NOW)
                            for i in range(10)])
    mark = bot.api.mark()
    bot.say(SUBSCRIBER, "/evidence 1")
    sent = [s for s in bot.api.sent[mark:] if s.chat_id == SUBSCRIBER]
    assert 1 < len(sent) <= MAX_PIECES and sent[-1].text.endswith("the command line shows all of it)")


def test_an_upload_is_downloaded_only_for_a_role_that_may_send_it(bot: Harness) -> None:
    big = b"<opml>" + b" " * (6 * 2**20) + b"</opml>"  # over the size limit too
    for user, says in ((STRANGER, "Only admins can add feeds"), (ANALYST, "Only admins can add feeds"),
                       (ADMIN, "too large to read")):
        mark = bot.api.mark()
        bot.api.user_message(user, "", document=bot.api.add_file(big, "feeds.opml"), first_name="u")
        assert says in bot.api.wait_reply(user, mark).text
    assert not [m for m, _ in bot.api.calls if m == "getFile"]


def test_a_telegram_name_with_a_lone_surrogate_or_control_characters_still_works(bot: Harness) -> None:
    mark = bot.api.mark()
    bot.api.user_message(ADMIN, "/add Gas deal signed", first_name="Ad\ud800\x1b[2Jmin")
    assert "Recorded <b>#19</b>" in bot.api.wait_reply(ADMIN, mark).text
    assert bot.store.get_claim(19).created_by == f"Ad\ufffd [2Jmin ({ADMIN})"


CHANNEL_BOT, ANONYMOUS_ADMIN, TELEGRAM_SERVICE = 136817688, 1087968824, 777000


def test_an_invite_sent_as_a_channel_or_anonymously_gives_no_role_and_stays_unused(bot: Harness) -> None:
    bot.store.add_invite("tok3n", Role.ANALYST, "admin", NOW)
    for sender in (CHANNEL_BOT, ANONYMOUS_ADMIN):
        reply = bot.say(sender, "/start tok3n", chat=GROUP, chat_type="supergroup")
        assert "as yourself" in reply.text
        assert bot.store.user(sender) is None
    mark = bot.api.mark()
    bot.api.user_message(ANALYST, "/add Pipeline signed", chat_id=GROUP, chat_type="supergroup",
                         sender_chat={"id": GROUP, "type": "supergroup", "title": "Test group"})
    assert "as yourself" in bot.api.wait_reply(GROUP, mark).text  # an analyst posting as the group: not as themselves
    assert "Welcome! The invite makes you an analyst" in bot.say(STRANGER, "/start tok3n").text  # still unused


def test_posts_a_linked_channel_forwards_get_no_answer(bot: Harness) -> None:
    mark = bot.api.mark()
    update = bot.api.user_message(TELEGRAM_SERVICE, "News of the day", chat_id=GROUP, chat_type="supergroup")
    deadline = time.monotonic() + 10
    while update not in (bot.handled or set()):
        assert time.monotonic() < deadline
        time.sleep(0.002)
    assert bot.api.sent[mark:] == []


def test_no_role_is_ever_stored_for_an_id_many_people_share(store: Store) -> None:
    from claimwatch.errors import InputError

    for shared in (CHANNEL_BOT, ANONYMOUS_ADMIN, TELEGRAM_SERVICE):
        with pytest.raises(InputError, match="as yourself"):
            store.set_role(shared, Role.ADMIN, "anyone", "test", NOW)
    assert store.users() == []
