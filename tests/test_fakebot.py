"""The fake Bot API server, checked with the real python-telegram-bot speaking HTTP to it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from fakebot import FakeBotAPI, running

USER = 42
GROUP = -100123


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    """A running fake server; fails the test if the fake itself raised."""
    with FakeBotAPI() as fake:
        yield fake
    assert fake.errors == []


def bot_for(api: FakeBotAPI, token: str = FakeBotAPI.TOKEN) -> Bot:
    """A real PTB Bot pointed at the fake."""
    return Bot(token, base_url=api.base_url, base_file_url=api.base_file_url)


@pytest.mark.asyncio
async def test_get_me_and_send_with_keyboard(api: FakeBotAPI) -> None:
    async with bot_for(api) as bot:
        assert bot.username == "claimwatch_test_bot"
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y"),
                                          InlineKeyboardButton("No", callback_data="n")],
                                         [InlineKeyboardButton("Docs", url="https://example.org")]])
        message = await bot.send_message(USER, "<b>Sure?</b>", parse_mode="HTML", reply_markup=keyboard)
        numeric = await bot.send_message(USER, "123", reply_to_message_id=message.message_id)
    assert message.reply_markup == keyboard and message.from_user.id == FakeBotAPI.BOT["id"]
    assert numeric.text == "123" and numeric.message_id == message.message_id + 1
    first, second = api.messages_to(USER)
    assert (first.method, first.text, first.parse_mode) == ("sendMessage", "<b>Sure?</b>", "HTML")
    assert first.buttons == [[("Yes", "y"), ("No", "n")], [("Docs", "https://example.org")]]
    assert second.text == "123" and isinstance(second.text, str) and second.reply_to == message.message_id
    assert [name for name, _ in api.calls] == ["getMe", "sendMessage", "sendMessage"]
    assert api.calls[1][1]["chat_id"] == USER


@pytest.mark.asyncio
async def test_long_poll_gets_a_command_and_offset_confirms_it(api: FakeBotAPI) -> None:
    async with bot_for(api) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=5))
        while not any(name == "getUpdates" for name, _ in api.calls):
            await asyncio.sleep(0.005)
        update_id = api.user_message(USER, "/start@claimwatch_test_bot hello 👋", username="ann")
        (update,) = await poll  # woken by the injection, long before the 5 s timeout
        assert update.update_id == update_id
        assert update.message.text == "/start@claimwatch_test_bot hello 👋"
        assert update.message.chat.type == "private" and update.effective_user.username == "ann"
        (entity,) = update.message.entities
        assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, len("/start@claimwatch_test_bot"))
        assert update.message.parse_entity(entity) == "/start@claimwatch_test_bot"
        assert await bot.get_updates(offset=update_id, timeout=0) != ()  # not confirmed yet
        assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()  # confirmed: gone


@pytest.mark.asyncio
async def test_callback_query_round_trip(api: FakeBotAPI) -> None:
    async with bot_for(api) as bot:
        keyboard = InlineKeyboardMarkup.from_button(InlineKeyboardButton("Resolve", callback_data="resolve:7"))
        sent = await bot.send_message(USER, "claim #7", reply_markup=keyboard)
        update_id = api.button_press(USER, "resolve:7", message_id=sent.message_id)
        (update,) = await bot.get_updates(offset=update_id, timeout=1)
        query = update.callback_query
        assert query.data == "resolve:7" and query.from_user.id == USER
        assert query.message.message_id == sent.message_id and query.message.reply_markup == keyboard
        assert await query.answer("done")
        with pytest.raises(BadRequest, match="(?i)query id is invalid"):
            await query.answer("twice")
        edited = await query.edit_message_text("claim #7: resolved")
        assert edited.text == "claim #7: resolved" and edited.reply_markup is None
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await query.edit_message_text("claim #7: resolved")
    assert api.answered_callbacks[0]["text"] == "done"
    assert api.sent[-1].method == "editMessageText" and api.sent[-1].buttons == []


@pytest.mark.asyncio
async def test_files_go_both_ways(api: FakeBotAPI) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + (3).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"rest"
    async with bot_for(api) as bot:
        photo = await bot.send_photo(USER, png, caption="chart", filename="chart.png")
        await bot.send_document(USER, b"a,b\n1,2\n", filename="claims.csv")
        document = api.add_file(b'{"claims": []}', "import.json", "application/json")
        update_id = api.user_message(USER, "please import", document=document)
        (update,) = await bot.get_updates(offset=update_id)
        assert update.message.caption == "please import" and update.message.document.file_name == "import.json"
        file = await update.message.document.get_file()
        assert await file.download_as_bytearray() == b'{"claims": []}'
        again = await (await bot.get_file(photo.photo[-1].file_id)).download_as_bytearray()
    assert (photo.photo[-1].width, photo.photo[-1].height, photo.caption) == (3, 2, "chart")
    photo_sent, document_sent = api.sent
    assert (photo_sent.method, photo_sent.text, photo_sent.file_bytes) == ("sendPhoto", "chart", png)
    assert (document_sent.file_name, document_sent.file_bytes) == ("claims.csv", b"a,b\n1,2\n")
    assert again == png


@pytest.mark.asyncio
async def test_injected_failures(api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=7, times=2)
    api.block(8)
    async with bot_for(api) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "hi")
        assert caught.value.retry_after == timedelta(seconds=3)
        await bot.send_message(USER, "hi")  # only the next call failed
        for _ in range(2):
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(7, "hi")
        await bot.send_message(7, "hi")
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(8, "hi")
        with pytest.raises(BadRequest, match="(?i)unsupported start tag"):
            await bot.send_message(USER, "1 < 2 & x", parse_mode="HTML")
        with pytest.raises(EndPointNotFound):  # PTB's name for the API's 404
            await bot.do_api_request("noSuchMethod")
    with pytest.raises(InvalidToken):
        async with bot_for(api, "1:WRONG"):  # initialize calls getMe
            pass
    assert [s.chat_id for s in api.sent] == [USER, 7]


def test_stop_is_fast_while_a_long_poll_is_pending() -> None:
    api = FakeBotAPI()
    api.start()
    outcome: list[object] = []

    def poll() -> None:
        async def get() -> object:
            async with bot_for(api) as bot:
                return await bot.get_updates(timeout=30)
        try:
            outcome.append(asyncio.run(get()))
        except Exception as exc:  # the server went away: also fine
            outcome.append(exc)

    thread = threading.Thread(target=poll)
    thread.start()
    while not any(name == "getUpdates" for name, _ in api.calls):
        time.sleep(0.005)
    started = time.monotonic()
    api.stop()
    assert time.monotonic() - started < 5  # not the 30 s a long poll lasts
    thread.join(5)
    assert outcome and not thread.is_alive()


def test_application_answers_ping_in_private_and_group_chats(api: FakeBotAPI) -> None:
    async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("pong")

    app = ApplicationBuilder().token(api.TOKEN).base_url(api.base_url).base_file_url(api.base_file_url).build()
    app.add_handler(CommandHandler("ping", ping))
    with running(app):
        mark = api.mark()
        api.user_message(USER, "/ping")
        assert api.wait_reply(USER, mark).text == "pong"
        mark = api.mark()
        api.user_message(USER, "/ping@some_other_bot", chat_id=GROUP, chat_type="supergroup")
        api.user_message(USER, "/ping@claimwatch_test_bot", chat_id=GROUP, chat_type="supergroup")
        reply = api.wait_reply(GROUP, mark)
        assert reply.text == "pong" and reply.reply_to == api.sent[-1].message_id - 1
    assert [s.chat_id for s in api.sent] == [USER, GROUP]  # the other bot's command got no answer
    assert [name for name, _ in api.calls][:2] == ["getMe", "deleteWebhook"]


@pytest.mark.asyncio
async def test_commands_chat_action_keyboard_edit_and_raw_wire(api: FakeBotAPI) -> None:
    async with bot_for(api) as bot:
        await bot.set_my_commands([("ping", "Is the bot alive?"), ("due", "Claims due for review")])
        assert [c.command for c in await bot.get_my_commands()] == ["ping", "due"]
        with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
            await bot.set_my_commands([("Ping", "capitals are not allowed")])
        assert await bot.send_chat_action(USER, "typing")
        sent = await bot.send_message(USER, "pick", reply_markup=InlineKeyboardMarkup.from_button(
            InlineKeyboardButton("A", callback_data="a")))
        edited = await bot.edit_message_reply_markup(USER, sent.message_id)  # no markup: the keyboard goes
        assert edited.reply_markup is None and edited.text == "pick"
        assert await bot.delete_my_commands() and await bot.get_my_commands() == ()
    assert api.commands == [] and api.sent[-1].method == "editMessageReplyMarkup" and api.sent[-1].buttons == []
    async with httpx.AsyncClient(base_url=f"{api.base_url}{api.TOKEN}") as client:  # JSON bodies and GET work too
        answer = (await client.post("/sendMessage", json={"chat_id": USER, "text": "123"})).json()
        assert answer["ok"] and answer["result"]["text"] == "123"
        assert (await client.get("/getMe")).json()["result"]["username"] == "claimwatch_test_bot"
        api.user_message(USER, "one")
        api.user_message(USER, "two")
        updates = (await client.get("/getUpdates", params={"offset": -1})).json()["result"]
        assert [u["message"]["text"] for u in updates] == ["two"]  # a negative offset forgets the older ones
        assert (await client.post("/noSuchMethod")).json() == {"ok": False, "error_code": 404,
                                                               "description": "Not Found"}


@pytest.mark.asyncio
async def test_application_in_the_test_loop_and_wait_timeout(api: FakeBotAPI) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(" ".join(context.args or []) or "nothing")

    app = ApplicationBuilder().token(api.TOKEN).base_url(api.base_url).base_file_url(api.base_file_url).build()
    app.add_handler(CommandHandler("echo", echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        mark = api.mark()
        api.user_message(USER, "/echo 123")
        reply = await api.wait_for_async(lambda s: s.chat_id == USER, after=mark)
        assert reply.text == "123"
        with pytest.raises(AssertionError, match="(?s)nothing matched.*text='123'"):
            await api.wait_for_async(lambda s: s.text == "never", timeout=0.05)
        await app.updater.stop()
        await app.stop()
