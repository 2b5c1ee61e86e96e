"""The Telegram front end: python-telegram-bot's Application over the chat command layer.

The only module that imports telegram. Handlers turn updates into `Incoming`, run the chat
service in one worker thread (store I/O must not block the event loop, and one thread keeps the
store's writers in order), and send the replies: HTML, split under Telegram's limits, buttons on
the last piece. Flood control is PTB's AIORateLimiter with retries (30 messages a second overall,
20 a minute per group); on top of it a chat gets at most one alert message a second.

Alerts go out from the outbox (see delivery.py) in named JobQueue jobs, all made again at every
start from what the database holds: "watch-tick" (feeds), "deliver" (outbox to chats),
"reminders" (daily at CLAIMWATCH_REMIND_AT, and once at start to make up for downtime) and
"digests" (each minute, for the chats whose digest time has come). At most IN_FLIGHT messages are
between "sent" and "recorded as sent": a bot killed at that instant sends those again on restart.

Updates come by long polling, from one process per token (a second one stops on Telegram's 409 Conflict, see
CONFLICT_GRACE), or with `run --webhook` by Telegram's calls to PTB's webhook server, which refuses (403) any
call without the secret token.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from html import escape
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.constants import ParseMode
from telegram import Bot
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, \
    TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, \
    MessageHandler, TypeHandler, filters
from telegram.request import BaseRequest, RequestData

from claimwatch import delivery, interchange, ledger
from claimwatch.chat import Attachment, ChatService, ChatSettings, Incoming, Reply, menu
from claimwatch.config import Config, Webhook, load_config, read_env_file, webhook
from claimwatch.errors import ClaimwatchError, StoreError
from claimwatch.fetch import CallFailed, Fetcher, ServiceClient
from claimwatch.model import CHANNEL_BOT, Source
from claimwatch.parsing import no_surrogates, printable
from claimwatch.render import TELEGRAM_CAPTION_LIMIT, TELEGRAM_TEXT_LIMIT, split_message, utf16_len
from claimwatch.store import open_store
from claimwatch.watcher import Watcher

log = logging.getLogger("claimwatch.bot")
RECORD_SECONDS = 30  # how long a stopping bot waits to record the alerts Telegram accepted
LISTEN_SECONDS = 5  # how long one wait for announcements lasts (the store's close() at stop ends it at once)
# Alert messages sent at once, each until it is recorded as sent (Telegram answers in ~100 ms: 8 keep up with 30 a
# second): a bot killed at any instant sends at most these again after a restart.
IN_FLIGHT = 8
CHAT_GAP = {True: 1.0, False: 3.0}  # seconds between alert messages to one private chat / group
MAX_PIECES = 4  # messages one reply may take; the rest is cut
CUT_SHORT = "\n… (cut short: too long for chat; the command line shows all of it)"
MAX_UPLOAD = 5 * 2**20  # an OPML file is small; anything bigger is not one
T = TypeVar("T")
# A 409 Conflict from getUpdates means another process polls the same token. Telegram answers it to the poll that
# a newer one cut off, and the two then cut each other off in turn: the process that has polled for less than this
# (more than the 10 s long poll) and received no update yet is the newcomer, and stops; the other one carries on.
CONFLICT_GRACE = 15.0
NO_TOKEN = ("claimwatch: no TELEGRAM_BOT_TOKEN is set. Get one from @BotFather in Telegram (/newbot) and put it "
            "in the environment or a .env file; without one, `claimwatch console` offers the same commands here.")


class Front:
    """What the handlers share: the chat service, its worker thread and the clock."""

    def __init__(self, service: ChatService, config: Config, clock: Callable[[], datetime],
                 watch_every: float, deliver_every: float) -> None:
        self.service = service
        self.config = config
        self.clock = clock
        self.watch_every, self.deliver_every = watch_every, deliver_every
        self.watcher: Watcher | None = None  # made at start, inside the event loop
        self.listener: asyncio.Task[None] | None = None  # on a database: delivers when others announce work
        self.started = time.monotonic()  # reset when the bot starts
        self.received = False  # an update came (polling works for this process)
        self.stopped_because = ""  # why the bot stopped itself, for main() to say
        self._next_send: dict[int, float] = {}  # chat -> monotonic time its next alert may go
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claimwatch-store")
        self._delivering = asyncio.Lock()  # the deliver job and the listener take turns
        self._unrecorded: list[tuple[delivery.Outgoing, asyncio.Future[None]]] = []  # sent, for the next write
        self._recording: asyncio.Task[None] | None = None  # the task writing them

    async def call(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, func, *args)

    def handle(self, incoming: Incoming) -> list[Reply]:
        now = self.clock()
        self.service.seen(incoming, now)
        return self.service.handle(incoming, now)

    async def close(self) -> None:
        """After the jobs stopped: sends Telegram accepted are recorded (a delivery the listener began was cancelled
        with them waiting for the next group write), then the store's thread ends. A write stuck for RECORD_SECONDS
        (a database lock) is not waited for here: the bot stops the rest, and what it was recording may go again
        (the process itself still waits for that thread as it exits)."""
        recorded = True
        if self._recording is not None:  # (its failures go to the sends waiting for it)
            try:
                await asyncio.wait_for(asyncio.shield(self._recording), RECORD_SECONDS)
            except TimeoutError:
                log.error("recording sent alerts took over %s s; stopping without it (they may go again)",
                          RECORD_SECONDS)
                recorded = False
        await asyncio.to_thread(self._worker.shutdown, wait=recorded)

    async def deliver(self, bot: Bot) -> None:
        """Fan out new alerts, then send the outbox until nothing is due (retries wait for a later run).

        Of all the bot processes on one store, one sends: the one holding the sender role (Store.hold_role), so
        Telegram's overall limit is kept by one rate limiter; when it dies, another takes the role at its next
        run (every `deliver_every` seconds). Messages it had in flight (at most IN_FLIGHT) may go again."""
        store = self.service.store
        async with self._delivering:
            if not await self.call(store.hold_role, "sender"):
                return
            await self.call(delivery.fan_out, store, self.clock(), self.config.tz)
            gate = asyncio.Semaphore(IN_FLIGHT)
            while batch := await self.call(functools.partial(delivery.next_batch, web_url=self.config.public_url),
                                           store, self.clock()):
                # every send of the batch ends (and is recorded) before a failure leaves the loop and lets the next
                # run in: a message still in flight then would not be recorded yet, and would go again
                outcomes = await asyncio.gather(*(self._deliver_one(bot, message, gate) for message in batch),
                                                return_exceptions=True)
                failures = [o for o in outcomes if isinstance(o, BaseException)]
                for other in failures[1:]:  # the first is raised, and logged as the job's failure
                    log.error("delivering an alert failed", exc_info=other)
                if failures:
                    raise failures[0]

    async def listen(self, bot: Bot) -> None:
        """Deliver as soon as another process announces new alerts or messages (PostgreSQL's LISTEN/NOTIFY),
        rather than at the next run of the deliver job."""
        while True:
            if await asyncio.to_thread(self.service.store.announcements, LISTEN_SECONDS):
                try:
                    await self.deliver(bot)
                except Exception:  # the delivery job tries again in a moment; listening goes on
                    log.exception("delivering on an announcement failed")

    async def _deliver_one(self, bot: Bot, message: delivery.Outgoing, gate: asyncio.Semaphore) -> None:
        store, chat = self.service.store, message.chat
        async with gate:
            await asyncio.sleep(max(0.0, self._next_send.get(chat, 0.0) - time.monotonic()))
            try:
                await _send(bot, chat, Reply(message.text, message.buttons))
            except RetryAfter as e:  # still flooded after the rate limiter's own retries
                await self.call(delivery.retry, store, message, self.clock(), "flood control",
                                _seconds(e.retry_after))
            except ChatMigrated as e:
                log.info("chat %s moved to %s; following it", chat, e.new_chat_id)
                await self.call(delivery.migrated, store, chat, e.new_chat_id, self.clock())
            except Forbidden as e:
                log.warning("chat %s cannot be reached (%s); its alerts are dropped", chat, e.message)
                await self.call(delivery.unreachable, store, chat, e.message, self.clock())
            except BadRequest as e:
                if "chat not found" in e.message.lower():
                    log.warning("chat %s does not exist; its alerts are dropped", chat)
                    await self.call(delivery.unreachable, store, chat, e.message, self.clock())
                else:
                    log.error("Telegram refused an alert for chat %s: %s", chat, e.message)
                    await self.call(delivery.dropped, store, message, self.clock(), e.message)
            except TelegramError as e:  # network trouble, 5xx: back off and try again
                log.warning("sending to chat %s failed (%s); will retry", chat, e)
                await self.call(delivery.retry, store, message, self.clock(), str(e))
            else:
                self._next_send[chat] = time.monotonic() + CHAT_GAP[chat > 0]
                await self._record_sent(message)  # inside the gate: at most IN_FLIGHT sent and not yet recorded

    async def _record_sent(self, message: delivery.Outgoing) -> None:
        """Record that Telegram accepted `message`; returns once it is written. Sends accepted while a write runs
        are recorded together in the next one (a group commit): one store write for several sends, and on the
        file store one outbox file for several chats, as a batch comes in the order of the outbox's files."""
        done = asyncio.get_running_loop().create_future()
        self._unrecorded.append((message, done))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._write_sent())
        await done

    async def _write_sent(self) -> None:
        while self._unrecorded:
            group, self._unrecorded = self._unrecorded, []
            try:
                await self.call(delivery.sent, self.service.store, *(message for message, _ in group))
            except Exception as e:  # each send waiting for this write fails with it, as its own write would
                for _, done in group:
                    if not done.done():  # (a send cancelled meanwhile, at shutdown, waits no more)
                        done.set_exception(e)
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)


class _BotApiRequest(BaseRequest):
    """The bot's calls to the Bot API over fetch.ServiceClient (aiohttp) rather than PTB's httpx: about a quarter of
    the CPU per call, which is what a fan-out to thousands of chats costs. Timeouts as PTB's defaults: 5 s to
    connect, 5 s to read, 20 s for uploads."""

    def __init__(self, connect_timeout: float = 5.0, read_timeout: float = 5.0, upload_timeout: float = 20.0) -> None:
        self._client = ServiceClient(self.USER_AGENT)
        self._connect_timeout, self._read_timeout, self._upload_timeout = connect_timeout, read_timeout, upload_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        await self._client.open()

    async def shutdown(self) -> None:
        await self._client.aclose()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        files = request_data.multipart_data if request_data is not None and request_data.contains_files else None
        read_default = self._upload_timeout if files else self._read_timeout
        try:
            return await self._client.call(
                method, url, fields=request_data.json_parameters if request_data is not None else None, files=files,
                connect_timeout=_given(connect_timeout, self._connect_timeout),
                read_timeout=_given(read_timeout, read_default))
        except CallFailed as e:
            raise (TimedOut(str(e)) if e.timed_out else NetworkError(str(e))) from e


def _given(value: Any, default: float) -> float | None:
    """A timeout a call passed (seconds, or None for none), else the default (PTB passes DEFAULT_NONE)."""
    return value if value is None or isinstance(value, (int, float)) else default


def _front(context: ContextTypes.DEFAULT_TYPE) -> Front:
    return context.application.bot_data["front"]


def _incoming(update: Update, text: str, pressed: bool = False) -> Incoming:
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    assert user is not None and chat is not None
    # Sent on behalf of a chat (a channel, an anonymous admin): whoever wrote it, it is no one's own message.
    user_id = CHANNEL_BOT if message is not None and message.sender_chat is not None else user.id
    # A @username is unique on Telegram; a display name is not, so it carries the id (no one can
    # forecast under another analyst's name by renaming themselves).
    name = user.username or f"{user.full_name} ({user.id})"
    # A lone surrogate (Telegram passes on a broken \ud800 escape) cannot be stored or sent: it becomes U+FFFD.
    # Names are shown in terminals too: their control characters become spaces.
    return Incoming(user_id, chat.id, no_surrogates(text), printable(name), chat.type, printable(chat.title or ""),
                    pressed, forwarded=_forwarded_from(message) if message is not None and not pressed else None)


def _forwarded_from(message: Message) -> Source | None:
    """Where a forwarded message came from, as a claim's source: a channel post's public link when it has one."""
    origin = message.forward_origin
    if origin is None:
        return None
    url = ""
    if isinstance(origin, MessageOriginChannel):
        title = origin.chat.title or "a channel"
        if origin.chat.username:
            url = f"https://t.me/{origin.chat.username}/{origin.message_id}"
    elif isinstance(origin, MessageOriginChat):
        title = origin.sender_chat.title or "a chat"
    elif isinstance(origin, MessageOriginUser):
        title = origin.sender_user.full_name
    elif isinstance(origin, MessageOriginHiddenUser):
        title = origin.sender_user_name
    else:
        title = "a forwarded message"
    return Source(title=printable(no_surrogates(title))[:200], url=url, published=origin.date.date())


def _markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[(InlineKeyboardButton(b.label, url=b.url) if b.url else
                                  InlineKeyboardButton(b.label, callback_data=b.command)) for b in row]
                                 for row in reply.buttons if row])


async def _send(bot: Bot, chat_id: int, reply: Reply) -> None:
    file = reply.attachment
    if file is not None and utf16_len(reply.text) <= TELEGRAM_CAPTION_LIMIT:  # one message: the file, captioned
        await _send_file(bot, chat_id, file, reply.text, _markup(reply))
        return
    pieces = split_message(reply.text)
    if len(pieces) > MAX_PIECES:  # a reply is a few messages at most, whatever it lists
        last = split_message(pieces[MAX_PIECES - 1], TELEGRAM_TEXT_LIMIT - utf16_len(CUT_SHORT))[0]
        pieces = pieces[:MAX_PIECES - 1] + [last + CUT_SHORT]
    for i, piece in enumerate(pieces):
        await bot.send_message(chat_id, piece, parse_mode=ParseMode.HTML,
                                       reply_markup=_markup(reply) if i == len(pieces) - 1 and not file else None,
                                       link_preview_options=LinkPreviewOptions(is_disabled=True))
    if file is not None:
        await _send_file(bot, chat_id, file, None, _markup(reply))


async def _send_file(bot: Bot, chat_id: int, file: Attachment, caption: str | None,
                     markup: InlineKeyboardMarkup | None) -> None:
    content = InputFile(file.content, filename=file.filename)
    if file.photo:
        await bot.send_photo(chat_id, content, caption=caption, parse_mode=ParseMode.HTML, reply_markup=markup)
    else:
        await bot.send_document(chat_id, content, caption=caption, parse_mode=ParseMode.HTML,
                                        reply_markup=markup)


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A typed command or text: the chat service answers."""
    message = update.effective_message
    if message is None or message.text is None or update.effective_user is None:
        return
    replies = await _front(context).call(_front(context).handle, _incoming(update, message.text))
    for reply in replies:
        await _send(context.bot, message.chat_id, reply)


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file sent to the bot (an OPML list of feeds, from an admin)."""
    message = update.effective_message
    if message is None or message.document is None or update.effective_user is None:
        return
    document = message.document
    front = _front(context)
    refusal = await front.call(front.service.file_refusal, _incoming(update, "").user_id, document.file_name or "file")
    if refusal is not None:  # not downloaded: a stranger's upload costs nothing
        await _send(context.bot, message.chat_id, refusal)
        return
    if (document.file_size or 0) > MAX_UPLOAD:
        await _send(context.bot, message.chat_id, Reply("That file is too large to read (over 5 MB)."))
        return
    content = bytes(await (await document.get_file()).download_as_bytearray())
    incoming = replace(_incoming(update, message.caption or ""),
                       file=Attachment(document.file_name or "file", content))
    for reply in await front.call(front.handle, incoming):
        await _send(context.bot, message.chat_id, reply)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button press runs the command it carries, checked like a typed one."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    await query.answer()
    front = _front(context)
    replies = await front.call(front.handle, _incoming(update, query.data or "", pressed=True))
    for reply in replies:
        if reply.edit and not reply.attachment and query.message is not None and len(split_message(reply.text)) == 1:
            try:
                await query.edit_message_text(reply.text, parse_mode=ParseMode.HTML, reply_markup=_markup(reply),
                                              link_preview_options=LinkPreviewOptions(is_disabled=True))
                continue
            except BadRequest as e:  # e.g. the message is too old to edit: send a new one instead
                log.info("could not edit a message (%s); sending a new one", e.message)
        await _send(context.bot, update.effective_chat.id, reply)


async def on_any_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Notes that updates reach this process (see CONFLICT_GRACE)."""
    _front(context).received = True


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log first; a chat that blocked the bot is marked inactive; anyone else hears something went wrong."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    front = _front(context)
    if isinstance(error, Conflict) and update is None:  # from getUpdates
        if front.received or time.monotonic() - front.started > CONFLICT_GRACE:
            log.warning("another process is long-polling this bot's token too (Telegram: %s); stop it: only one "
                        "process may poll a token", error.message)
            return
        front.stopped_because = (f"another process is already long-polling this bot's token (Telegram: "
                                 f"{error.message}): stop it first, or run every bot process with --webhook")
        context.application.stop_running()
        return
    if isinstance(error, Forbidden) and chat is not None:
        log.warning("chat %s cannot be reached (%s); marked inactive", chat.id, error.message)
        await front.call(front.service.chat_unreachable, chat.id, error.message, front.clock())
        return
    log.error("%s failed", f"the {context.job.name} job" if context.job else "handling an update", exc_info=error)
    if chat is not None:
        try:
            await context.bot.send_message(chat.id, "Sorry, something went wrong on our side. It has been logged; "
                                                    "please try again later.")
        except TelegramError:
            log.warning("could not tell chat %s about the failure", chat.id)


async def watch_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Check the feeds that are due; tell the admins about feeds failing, recovering or gone.
    (Alerts for subscribers are recorded by the watcher; sending them is the delivery's job.)"""
    front = _front(context)
    assert front.watcher is not None
    for report in await front.watcher.cycle(front.clock()):
        if report.notice:
            log.info("%s", report.notice)
            for admin in sorted(front.config.admins):
                try:
                    await context.bot.send_message(admin, escape(report.notice), parse_mode=ParseMode.HTML)
                except TelegramError as e:
                    log.warning("could not tell admin %s about a feed: %s", admin, e.message)


async def deliver_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    await _front(context).deliver(context.bot)


async def reminders_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The day's review reminders (once a day, whenever this runs after CLAIMWATCH_REMIND_AT); dropped
    messages older than a week are forgotten."""
    front = _front(context)
    store, now = front.service.store, front.clock()
    queued = await front.call(delivery.queue_reminders, store, now, front.config.tz, front.config.remind_at)
    nudged = await front.call(delivery.queue_nudges, store, now, front.config.tz, front.config.remind_at)
    await front.call(delivery.forget_dropped, store, now)
    if queued or nudged:
        log.info("queued %d review reminders and %d weekly nudges", queued, nudged)


async def digests_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    front = _front(context)
    await front.call(delivery.queue_digests, front.service.store, front.clock(), front.config.tz)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def on_start(app: Application) -> None:
    """Register the command menu, learn the bot's name, say where we serve (a new data directory starts empty:
    /examples load brings the example claims)."""
    front: Front = app.bot_data["front"]
    front.started = time.monotonic()
    await app.bot.set_my_commands([BotCommand(name, summary) for name, summary in menu()])
    front.service.settings = replace(front.service.settings, bot_username=app.bot.username)
    # Load every claim once, then exempt what is loaded from the cyclic garbage collector: the data is
    # long-lived and acyclic, and rescanning it made each full collection cost ~130 ms at 10k claims.
    await front.call(front.service.store.find_claims)
    gc.freeze()
    front.watcher = Watcher(front.service.store, Fetcher(allow_private=front.config.allow_private_feeds),
                            front.config.poll_seconds)
    assert app.job_queue is not None
    # Every job is made here, at start, from settings and stored state: none depends on the scheduler's memory.
    # A run that comes late (a busy event loop, a suspended host) still runs, once: APScheduler would skip one
    # more than a second late, and with it a whole day's reminders.
    once = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    jobs = app.job_queue
    jobs.run_repeating(watch_tick, interval=front.watch_every, first=1, name="watch-tick", job_kwargs=once)
    jobs.run_once(reminders_tick, when=0, name="reminders-at-start", job_kwargs=once)  # makes up for downtime
    jobs.run_daily(reminders_tick, time=front.config.remind_at.replace(tzinfo=front.config.tz), name="reminders",
                   job_kwargs=once)
    jobs.run_repeating(digests_tick, interval=60, first=0.5, name="digests", job_kwargs=once)
    jobs.run_repeating(deliver_tick, interval=front.deliver_every, first=1, name="deliver", job_kwargs=once)
    if front.config.database:  # a database announces what other processes wrote
        front.listener = asyncio.get_running_loop().create_task(front.listen(app.bot), name="listen")
    empty = await front.call(front.service.store.is_empty)
    log.info("claimwatch bot @%s serving %s %s%s", app.bot.username,
             "the database" if front.config.database else "data directory", front.config.shown_location,
             " (no claims yet: /examples load adds the example claims)" if empty else "")


async def on_stop(app: Application) -> None:
    front: Front = app.bot_data["front"]
    if front.listener is not None:
        front.listener.cancel()
        await asyncio.gather(front.listener, return_exceptions=True)  # its delivery has let go of what it sent
    if front.watcher is not None:
        await front.watcher.fetcher.aclose()
    await front.close()
    await asyncio.to_thread(front.service.store.close)  # the roles it held are let go: another bot takes them at once
    # PTB shuts down only a bot that started: after a failed start (a rejected token) its connections are closed here
    await app.bot.shutdown()


def build_application(config: Config, service: ChatService, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                      watch_every: float = 60, deliver_every: float = 2, overall_rate: float = 30) -> Application:
    """The bot, wired; `run_polling()` it, or drive its lifecycle by hand (tests). `overall_rate` is Telegram's
    limit of messages a second (0 opens it: benchmarks measure what claimwatch itself can send)."""
    app = (ApplicationBuilder().token(config.token)
           .base_url(f"{config.api_url}/bot").base_file_url(f"{config.api_url}/file/bot")
           .request(_BotApiRequest()).get_updates_request(_BotApiRequest())
           .rate_limiter(AIORateLimiter(overall_max_rate=overall_rate, max_retries=3))
           .concurrent_updates(True)
           .post_init(on_start).post_shutdown(on_stop)
           .build())
    app.bot_data["front"] = Front(service, config, clock, watch_every, deliver_every)
    app.add_handler(TypeHandler(Update, on_any_update, block=False), group=-1)
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, on_message))  # an edit is not a new command
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.Document.ALL, on_document))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_error_handler(on_error)
    return app


class _Redacting(logging.Formatter):
    """Never lets the token into a log line (httpx logs request URLs, which hold it)."""

    def __init__(self, token: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._token = token

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.replace(self._token, "<token>") if self._token else text


def _setup_logging(token: str, level: str) -> None:
    """Quiet by default: claimwatch's own lines at `level` (CLAIMWATCH_LOG_LEVEL), the libraries' warnings only
    (APScheduler says "Running job" twice every 2 s at INFO), everything with "debug"."""
    handler = logging.StreamHandler()
    handler.setFormatter(_Redacting(token))
    handler.addFilter(_not_bootstrap_failure)
    debug = level == "debug"
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("claimwatch").setLevel(level.upper())
    if not debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        # "skipped: maximum number of running instances reached" is how a long delivery keeps its next run away
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def _not_bootstrap_failure(record: logging.LogRecord) -> bool:
    """PTB logs a failed start (a rejected token, no network) with a long traceback; main() says it in one line."""
    return not (record.name.startswith("telegram") and "(Bootstrap" in record.getMessage())


def _start_failure(error: TelegramError, config: Config) -> str:
    """What stopped the bot from starting, in one line naming what to check."""
    if isinstance(error, InvalidToken):
        return ("Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN (from @BotFather) and that it is for "
                f"{config.api_url}")
    if isinstance(error, BadRequest):  # a NetworkError to PTB, but the server answered: it refused
        if "webhook" in error.message.lower():
            return f"Telegram refused the webhook ({error.message}): check --webhook, a public https URL"
        return f"Telegram refused a call at start ({error.message})"
    if isinstance(error, NetworkError):
        return (f"cannot reach the Telegram Bot API at {config.api_url} ({error.message}): check the network, "
                "or TELEGRAM_API_URL")
    return str(error)


def bot_identity(config: Config) -> str:
    """Whose the token is (getMe) and how updates reach the bot (getWebhookInfo), in one line for `doctor`;
    ClaimwatchError, in one line naming what to check, when Telegram cannot be asked or refuses the token."""
    async def ask() -> str:
        async with Bot(config.token, base_url=f"{config.api_url}/bot", base_file_url=f"{config.api_url}/file/bot",
                       request=_BotApiRequest(), get_updates_request=_BotApiRequest()) as bot:
            hook = await bot.get_webhook_info()
        if not hook.url:
            return f"@{bot.username}, no webhook set (long polling)"
        trouble = f"; its last error: {hook.last_error_message}" if hook.last_error_message else ""
        return f"@{bot.username}, updates by webhook at {hook.url} ({hook.pending_update_count} waiting{trouble})"
    try:
        return asyncio.run(ask())
    except TelegramError as e:
        raise ClaimwatchError(_start_failure(e, config).replace(config.token, "<token>")) from None


def main(webhook_url: str | None = None, listen: str | None = None) -> int:
    """`python bot.py` and `claimwatch run`: long polling, or with `webhook_url` webhook mode on `listen`."""
    try:
        read_env_file()
        # PTB 22 warns on every flood-control error unless its future timedelta behaviour is chosen
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        config = load_config()
        hook = None if webhook_url is None else webhook(webhook_url, listen, config)
    except ClaimwatchError as e:
        print(f"claimwatch: error: {e}", file=sys.stderr)
        return 2
    if not config.token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    _setup_logging(config.token, config.log_level)
    try:
        store = open_store(config.location)
    except StoreError as e:
        print(f"claimwatch: error: {e}", file=sys.stderr)
        return 1
    service = ChatService(store, ChatSettings(config.tz, config.admins, config.access, public_url=config.public_url,
                                              allow_private_feeds=config.allow_private_feeds))
    app = build_application(config, service)
    try:
        if hook is None:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
        else:
            _run_webhook(app, hook)
    except TelegramError as e:  # e.g. a rejected token, whose message quotes the token itself
        print(f"claimwatch: error: {_start_failure(e, config).replace(config.token, '<token>')}", file=sys.stderr)
        return 1
    except OSError as e:  # the webhook's address is taken or not this machine's
        if hook is None:
            raise
        print(f"claimwatch: error: cannot listen on {hook.host}:{hook.port} ({e.strerror or e}): choose another "
              "--listen", file=sys.stderr)
        return 1
    stopped = app.bot_data["front"].stopped_because
    if stopped:
        print(f"claimwatch: error: {stopped}", file=sys.stderr)
        return 1
    return 0


def _run_webhook(app: Application, hook: Webhook) -> None:
    """Serves Telegram's webhook calls; a call without the secret (X-Telegram-Bot-Api-Secret-Token) gets 403."""
    if hook.secret_made:
        log.warning("no CLAIMWATCH_WEBHOOK_SECRET is set: using a secret made for this run (set one when several "
                    "bot processes share the webhook, or each start locks the others out)")
    log.info("receiving updates by webhook at %s (listening on %s:%d)", hook.url, hook.host, hook.port)
    # PTB routes by a regular expression: the path is taken literally
    app.run_webhook(listen=hook.host, port=hook.port, url_path=re.escape(hook.path), webhook_url=hook.url,
                    secret_token=hook.secret, allowed_updates=Update.ALL_TYPES)
