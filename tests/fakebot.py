"""A fake Telegram Bot API server on 127.0.0.1 that the real python-telegram-bot talks HTTP to in tests."""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from telegram.ext import Application

JSON = dict[str, Any]

# Parameters PTB sends as raw strings; every other form value is JSON-encoded (chat_id "1001", "true", "{...}").
_RAW_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "data", "url", "inline_message_id", "file_id",
    "action", "language_code", "emoji", "title", "description", "query", "photo", "document",
    "message_effect_id", "business_connection_id", "name", "short_description", "secret_token",
})
_HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                        "tg-emoji", "code", "pre", "blockquote"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)?(?:\s[^<>]*)?>")
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")  # ASCII, so UTF-16 units == characters
_ENTITIES = {"text": "entities", "caption": "caption_entities"}
_SENDING = ("send", "edit", "copy", "forward")  # method prefixes that a block() rejects


@dataclass
class Sent:
    """One message the bot sent or edited, as the fake recorded it."""

    method: str
    chat_id: int
    message_id: int
    text: str | None  # the text, or the caption of a photo/document
    parse_mode: str | None = None
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)  # (text, callback_data or url)
    file_name: str | None = None
    file_bytes: bytes | None = field(default=None, repr=False)
    reply_to: int | None = None
    params: JSON = field(default_factory=dict, repr=False)  # every decoded parameter of the call


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded in a multipart/form-data request."""

    file_name: str
    content: bytes = field(repr=False)
    mime_type: str


class _ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def _error(code: int, description: str, retry_after: int | None = None, migrate_to: int | None = None) -> web.Response:
    """The Bot API's error answer, with the same HTTP status."""
    body: JSON = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    if migrate_to is not None:  # a group that became a supergroup
        body["parameters"] = {"migrate_to_chat_id": migrate_to}
    return web.json_response(body, status=code)


def _decode(name: str, value: str) -> Any:
    """A form value decoded by parameter name: raw strings stay strings, everything else is JSON."""
    if name in _RAW_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id "@channel"


def _html_visible(text: str) -> str:
    """The visible text of Telegram HTML; raises the Bot API's 400 for tags it would reject."""
    stack: list[str] = []
    parts: list[str] = []
    pos = 0
    while (lt := text.find("<", pos)) >= 0:
        parts.append(text[pos:lt])
        match, offset = _TAG.match(text, lt), len(text[:lt].encode())
        name = (match[2] or "").lower() if match else ""
        if not match or name not in _HTML_TAGS:
            raise _ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" at byte '
                                 f"offset {offset}")
        if not match[1]:
            stack.append(name)
        elif not stack:
            raise _ApiError(400, f"Bad Request: can't parse entities: Unexpected end tag at byte offset {offset}")
        elif stack.pop() != name:
            raise _ApiError(400, f"Bad Request: can't parse entities: Unmatched end tag at byte offset {offset}")
        pos = match.end()
    if stack:
        raise _ApiError(400, "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
                             f'"{stack[-1]}"')
    return html.unescape("".join(parts + [text[pos:]]))


def _inline(markup: Any) -> JSON | None:
    """The markup if it is an inline keyboard (the only kind a Message echoes back), else None."""
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _buttons(markup: JSON | None) -> list[list[tuple[str, str]]]:
    """Inline keyboard rows as (text, callback_data or url) pairs."""
    rows = (markup or {}).get("inline_keyboard", [])
    return [[(b["text"], b.get("callback_data") or b.get("url") or "") for b in row] for row in rows]


class FakeBotAPI:
    """A Telegram Bot API server on 127.0.0.1 for tests: records what the bot sends, injects what users do."""

    TOKEN = "123456:TEST-TOKEN"
    BOT: JSON = {"id": 999, "is_bot": True, "first_name": "claimwatch", "username": "claimwatch_test_bot"}

    def __init__(self) -> None:
        self.url = ""  # "http://127.0.0.1:PORT" once started: the value for TELEGRAM_API_URL
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, JSON]] = []
        self.commands: list[JSON] = []
        self.answered_callbacks: list[JSON] = []
        self.errors: list[str] = []  # exceptions inside the fake itself (answered 500)
        self._lock = threading.RLock()
        self._updates: list[JSON] = []
        self._messages: dict[tuple[int, int], JSON] = {}
        self._last_id: dict[int, int] = {}
        self._chats: dict[int, JSON] = {}
        self._users: dict[int, JSON] = {}
        self._files: dict[str, tuple[JSON, bytes]] = {}
        self._open_queries: set[str] = set()
        self._failures: list[tuple[str, int | None, int, str, int | None, int | None]] = []  # one entry per failing call
        self._blocked: set[int] = set()
        self._update_ids, self._ids = itertools.count(1), itertools.count(1)  # updates; files and queries
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._wakeup: asyncio.Event | None = None
        self._closing = False
        self.webhook: JSON = {}  # what the last setWebhook set (url, secret_token, ...); {} when none is set
        self.send_times: list[float] = []  # time.monotonic() of each sendMessage answered
        self.sends_waiting = 0  # sendMessage calls held by pause_sends()
        self._slow: dict[int, float] = {}  # chat -> seconds its sendMessage calls take (slow())
        self._sends_open: asyncio.Event | None = None
        self._poll_ids = itertools.count(1)
        self._current_poll = 0  # the getUpdates being answered now; a newer one cuts it off, as Telegram does
        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getme": lambda p: self.BOT, "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook, "getwebhookinfo": self._webhook_info, "sendmessage": self._send_message,
            "sendphoto": lambda p: self._send_file(p, "photo"), "senddocument": lambda p: self._send_file(p, "document"),
            "editmessagetext": lambda p: self._edit("editMessageText", p),
            "editmessagereplymarkup": lambda p: self._edit("editMessageReplyMarkup", p),
            "answercallbackquery": self._answer_callback, "setmycommands": self._set_commands,
            "getmycommands": lambda p: self.commands, "deletemycommands": lambda p: self._set_commands({}),
            "getfile": self._get_file, "sendchataction": lambda p: True, "close": lambda p: True,
            "logout": lambda p: True,
        }

    # --- lifecycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for PTB's base_url."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for PTB's base_file_url."""
        return f"{self.url}/file/bot"

    def start(self) -> None:
        """Serves on a free port of 127.0.0.1 from a thread with its own event loop; returns when serving."""
        if self._loop is not None:
            raise RuntimeError("FakeBotAPI is already running")
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="FakeBotAPI", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)

    def stop(self) -> None:
        """Answers pending long polls at once, closes every connection and ends the server thread."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    def __enter__(self) -> FakeBotAPI:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        """Sets up the aiohttp server inside the server thread."""
        self._wakeup = asyncio.Event()
        self._sends_open = asyncio.Event()
        self._sends_open.set()
        app = web.Application(client_max_size=64 * 2**20)  # Telegram takes uploads up to 50 MB
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def _shutdown(self) -> None:
        """Wakes the long polls and closes the server."""
        self._closing = True
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()

    def _wake(self) -> None:
        """Wakes every pending getUpdates (runs in the server loop)."""
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = asyncio.Event()

    def pause_sends(self) -> None:
        """sendMessage calls wait, unanswered, until resume_sends() (as on a slow network: in flight)."""
        assert self._loop is not None and self._sends_open is not None
        self._loop.call_soon_threadsafe(self._sends_open.clear)

    def resume_sends(self) -> None:
        assert self._loop is not None and self._sends_open is not None
        self._loop.call_soon_threadsafe(self._sends_open.set)

    def slow(self, chat_id: int, seconds: float) -> None:
        """sendMessage calls to `chat_id` are answered `seconds` after they come (in flight meanwhile)."""
        self._slow[chat_id] = seconds

    # --- what users do ---------------------------------------------------------------------------------------

    def user_message(self, user_id: int, text: str, *, chat_id: int | None = None, chat_type: str = "private",
                     first_name: str = "User", username: str | None = None, document: JSON | None = None,
                     title: str = "Test group", reply_to: int | None = None, sender_chat: JSON | None = None,
                     forward_origin: JSON | None = None) -> int:
        """Queues a message from a user (a command gets its bot_command entity); returns the update_id."""
        if chat_id is None and chat_type != "private":
            raise ValueError("a group message needs its (negative) chat_id")
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            user = self._users[user_id] = {"id": user_id, "is_bot": False, "first_name": first_name,
                                           **({"username": username} if username else {})}
            if chat_type == "private":
                self._chats[chat_id] = {"id": chat_id, "type": "private", "first_name": first_name,
                                        **({"username": username} if username else {})}
                self._blocked.discard(chat_id)  # writing to the bot means the user unblocked it
            else:
                self._chats.setdefault(chat_id, {"id": chat_id, "type": chat_type, "title": title})
            key = "caption" if document else "text"
            command = _COMMAND.match(text)
            entities = [{"type": "bot_command", "offset": 0, "length": command.end()}] if command else None
            msg = self._new_message(chat_id, user, **{key: text or None, _ENTITIES[key]: entities}, document=document,
                                    reply_to_message=self._quoted(chat_id, reply_to), sender_chat=sender_chat,
                                    forward_origin=forward_origin)
            return self._push({"message": copy.deepcopy(msg)})

    def button_press(self, user_id: int, data: str, *, message_id: int, chat_id: int | None = None) -> int:
        """Queues a callback_query pressing a button of a stored message; returns the update_id."""
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            msg = self._messages.get((chat_id, message_id))
            if msg is None:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            query_id = str(next(self._ids))
            self._open_queries.add(query_id)
            user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "User"}
            return self._push({"callback_query": {"id": query_id, "from": user, "chat_instance": "ci", "data": data,
                                                  "message": copy.deepcopy(msg)}})

    def add_file(self, content: bytes, file_name: str, mime_type: str = "application/octet-stream") -> JSON:
        """Stores a file a user sends; returns the Document dict for user_message(..., document=...)."""
        with self._lock:
            meta = self._store_file(content, file_name, mime_type, "documents")
        return {k: meta[k] for k in ("file_id", "file_unique_id", "file_name", "mime_type", "file_size")}

    # --- failures to inject ----------------------------------------------------------------------------------

    def fail_next(self, method: str, code: int, description: str, *, retry_after: int | None = None,
                  chat_id: int | None = None, times: int = 1, migrate_to: int | None = None) -> None:
        """Answers the next `times` calls of `method` (to chat_id, if given) with this Bot API error."""
        with self._lock:
            self._failures += [(method.lower(), chat_id, code, description, retry_after, migrate_to)] * times

    def block(self, chat_id: int) -> None:
        """Every send or edit to chat_id answers 403 from now on, until that user writes again."""
        with self._lock:
            self._blocked.add(chat_id)

    def push_webhook(self, to: str, secret: str | None = "", timeout: float = 10.0) -> list[int]:
        """Posts each queued update to `to` (the bot's --listen address and the webhook's path, where a reverse
        proxy would pass Telegram's calls on) with the X-Telegram-Bot-Api-Secret-Token header: the secret
        setWebhook set when `secret` is "", none when None. An update answered 2xx leaves the queue, as Telegram
        drops it; a refused connection is tried again until `timeout` (the server may be starting). Returns
        each update's HTTP status."""
        with self._lock:
            if not self.webhook:
                raise RuntimeError("no webhook is set: the bot has not called setWebhook")
            updates = copy.deepcopy(self._updates)
            secret = self.webhook.get("secret_token") if secret == "" else secret
        statuses = []
        for update in updates:
            status = _post_json(to, update, {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret},
                                time.monotonic() + timeout)
            statuses.append(status)
            if 200 <= status < 300:
                with self._lock:
                    self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
        return statuses

    # --- what the bot did ------------------------------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[Sent]:
        """Everything sent or edited in chat_id, in order."""
        with self._lock:
            return [s for s in self.sent if s.chat_id == chat_id]

    def mark(self) -> int:
        """The current position in `sent`, for wait_for(after=...) and wait_reply."""
        with self._lock:
            return len(self.sent)

    def wait_for(self, predicate: Callable[[Sent], bool], timeout: float = 10.0, *, after: int = 0) -> Sent:
        """The first Sent at position >= after matching predicate, polling every 5 ms."""
        deadline = time.monotonic() + timeout
        while (found := self._poll(predicate, after, deadline)) is None:
            time.sleep(0.005)
        return found

    async def wait_for_async(self, predicate: Callable[[Sent], bool], timeout: float = 10.0, *,
                             after: int = 0) -> Sent:
        """wait_for for tests whose own event loop runs the bot."""
        deadline = time.monotonic() + timeout
        while (found := self._poll(predicate, after, deadline)) is None:
            await asyncio.sleep(0.005)
        return found

    def wait_reply(self, chat_id: int, after: int, timeout: float = 10.0) -> Sent:
        """The first Sent to chat_id after the mark `after` (take it with mark() before injecting)."""
        return self.wait_for(lambda s: s.chat_id == chat_id, timeout, after=after)

    def _poll(self, predicate: Callable[[Sent], bool], after: int, deadline: float) -> Sent | None:
        """The first match at position >= after, None to keep waiting, AssertionError past the deadline."""
        with self._lock:
            recent, last = self.sent[after:], self.sent[-10:]
        if (found := next((s for s in recent if predicate(s)), None)) or time.monotonic() < deadline:
            return found
        listing = "\n".join(f"  {s!r}" for s in last) or "  (nothing)"
        errors = f"\nerrors inside the fake: {self.errors}" if self.errors else ""
        raise AssertionError(f"nothing matched in time; the last messages sent:\n{listing}{errors}")

    # --- HTTP ------------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        """Answers one Bot API method call."""
        method, name = request.match_info["method"], request.match_info["method"].lower()
        if request.match_info["token"] != self.TOKEN:
            return _error(401, "Unauthorized")
        params = await self._params(request)
        with self._lock:
            self.calls.append((method, params))
            failure = self._failure_for(name, params)
        if failure is not None:
            return failure
        if name == "sendmessage" and self._sends_open is not None and not self._sends_open.is_set():
            self.sends_waiting += 1
            try:
                await self._sends_open.wait()  # a caller that goes away meanwhile is cancelled here: nothing sent
            finally:
                self.sends_waiting -= 1
        if name == "sendmessage" and (delay := self._slow.get(params.get("chat_id"))):
            await asyncio.sleep(delay)
        try:
            if name == "getupdates":
                result: Any = await self._get_updates(params)
            elif name not in self._methods:
                return _error(404, "Not Found")
            else:
                with self._lock:
                    result = self._methods[name](params)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        except Exception as exc:  # a bug in the fake or a request it cannot handle: make it visible
            self.errors.append(f"{method}: {exc!r}")
            return _error(500, f"Internal Server Error: fake bot API failed: {exc!r}")
        if name == "sendmessage":
            self.send_times.append(time.monotonic())
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> JSON:
        """The call's parameters from JSON, urlencoded or multipart bodies (and the query string)."""
        if request.content_type == "application/json":
            body = await request.read()
            return dict(json.loads(body)) if body else {}
        form = {**request.query, **(await request.post())}
        params: JSON = {}
        for name, value in form.items():
            if isinstance(value, web.FileField):
                params[name] = Upload(value.filename, value.file.read(), value.content_type)
            else:
                params[name] = _decode(name, value)
        for name, value in params.items():  # thumbnails and media point to other parts with attach://NAME
            if isinstance(value, str) and value.startswith("attach://"):
                params[name] = params.get(value.removeprefix("attach://"), value)
        return params

    def _failure_for(self, name: str, params: JSON) -> web.Response | None:
        """The injected error this call must get, if any."""
        chat_id = params.get("chat_id")
        for failure in self._failures:
            if failure[0] == name and failure[1] in (None, chat_id):
                self._failures.remove(failure)
                return _error(*failure[2:])
        if chat_id in self._blocked and name.startswith(_SENDING):
            return _error(403, "Forbidden: bot was blocked by the user")
        return None

    async def _get_updates(self, p: JSON) -> list[JSON]:
        """Long poll: confirms updates below `offset`, waits up to `timeout` s for new ones. As Telegram does, a
        getUpdates cuts off the one still waiting (409 Conflict), and none is answered while a webhook is set."""
        offset, limit = int(p.get("offset") or 0), min(max(int(p.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        with self._lock:
            if self.webhook:
                raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                     "deleteWebhook to delete the webhook first")
            poll = self._current_poll = next(self._poll_ids)
        self._wake()  # the one waiting, if any, sees it was cut off
        while True:
            with self._lock:
                if poll != self._current_poll:
                    raise _ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only "
                                         "one bot instance is running")
                if offset < 0:  # the last -offset updates; everything before is forgotten
                    self._updates = self._updates[offset:]
                else:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                batch = copy.deepcopy(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if batch or self._closing or remaining <= 0 or self._wakeup is None:
                return batch
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                pass

    async def _download(self, request: web.Request) -> web.Response:
        """GET /file/bot<TOKEN>/<file_path>: the stored bytes."""
        if request.match_info["token"] != self.TOKEN:
            return _error(401, "Unauthorized")
        with self._lock:
            content = next((c for meta, c in self._files.values() if meta["file_path"] == request.match_info["path"]),
                           None)
        return _error(404, "Not Found") if content is None else web.Response(body=content)

    # --- state -----------------------------------------------------------------------------------------------

    def _push(self, update: JSON) -> int:
        """Queues an update, wakes the long polls and returns its update_id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)
        return update_id

    def _chat(self, chat_id: int) -> JSON:
        """The chat object for chat_id (a private chat or a group the fake has not seen yet is made up)."""
        if chat_id not in self._chats:
            self._chats[chat_id] = ({"id": chat_id, "type": "private", "first_name": "User"} if chat_id > 0
                                    else {"id": chat_id, "type": "supergroup", "title": "Test group"})
        return self._chats[chat_id]

    def _chat_id(self, p: JSON) -> int:
        """The integer chat_id parameter."""
        if not isinstance(p.get("chat_id"), int):
            raise _ApiError(400, "Bad Request: chat not found")
        return p["chat_id"]

    def _new_message(self, chat_id: int, sender: JSON, **fields: Any) -> JSON:
        """Stores a new message with the chat's next message_id (None fields are left out)."""
        message_id = self._last_id[chat_id] = self._last_id.get(chat_id, 0) + 1
        msg = {"message_id": message_id, "date": int(time.time()), "chat": self._chat(chat_id), "from": sender,
               **{k: v for k, v in fields.items() if v is not None}}
        self._messages[chat_id, message_id] = msg
        return msg

    def _quoted(self, chat_id: int, message_id: int | None) -> JSON | None:
        """A copy of a stored message for reply_to_message (without its own reply)."""
        msg = self._messages.get((chat_id, message_id)) if message_id is not None else None
        return None if msg is None else {k: v for k, v in copy.deepcopy(msg).items() if k != "reply_to_message"}

    def _store_file(self, content: bytes, file_name: str, mime_type: str, folder: str) -> JSON:
        """Stores a file and returns its metadata, file_path included."""
        n = next(self._ids)
        meta = {"file_id": f"file-{n}", "file_unique_id": f"uniq-{n}", "file_name": file_name, "mime_type": mime_type,
                "file_size": len(content), "file_path": f"{folder}/file_{n}{PurePosixPath(file_name).suffix}"}
        self._files[meta["file_id"]] = (meta, content)
        return meta

    def _check_text(self, text: str, parse_mode: str | None, limit: int, what: str) -> None:
        """Rejects what Telegram rejects: bad HTML, empty texts, texts over the length limit."""
        visible = _html_visible(text) if (parse_mode or "").lower() == "html" else text
        if what == "message" and not visible.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if (parse_mode or "html").lower() == "html" and len(visible.encode("utf-16-le")) // 2 > limit:  # markdown: not counted
            raise _ApiError(400, f"Bad Request: {what} is too long")

    # --- methods ---------------------------------------------------------------------------------------------

    def _delete_webhook(self, p: JSON) -> bool:
        """deleteWebhook, dropping pending updates if asked."""
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {}
        return True

    def _set_webhook(self, p: JSON) -> bool:
        """setWebhook: from now on updates go to the webhook (see push_webhook), not to getUpdates."""
        url = str(p.get("url") or "")
        if not url:
            return self._delete_webhook(p)
        if not url.startswith("https://") and not url.startswith("http://"):
            raise _ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = dict(p)
        self._wake()
        return True

    def _webhook_info(self, p: JSON) -> JSON:
        """getWebhookInfo."""
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    def _outgoing(self, method: str, p: JSON, text: str | None, content: JSON,
                  upload: tuple[str | None, bytes | None] = (None, None)) -> JSON:
        """Stores and records a message the bot sends; returns it as Telegram would."""
        chat_id = self._chat_id(p)
        reply = p.get("reply_parameters") or {}
        reply_to = reply.get("message_id", p.get("reply_to_message_id"))
        if (reply_to is not None and (chat_id, reply_to) not in self._messages
                and not (reply.get("allow_sending_without_reply") or p.get("allow_sending_without_reply"))):
            raise _ApiError(400, "Bad Request: message to be replied not found")
        markup = _inline(p.get("reply_markup"))
        key = "text" if method == "sendMessage" else "caption"
        msg = self._new_message(chat_id, self.BOT, **content, **{key: text, _ENTITIES[key]: p.get(_ENTITIES[key])},
                                reply_markup=markup, reply_to_message=self._quoted(chat_id, reply_to))
        self.sent.append(Sent(method, chat_id, msg["message_id"], text, p.get("parse_mode"), _buttons(markup),
                              upload[0], upload[1], reply_to, p))
        return msg

    def _send_message(self, p: JSON) -> JSON:
        """sendMessage."""
        text = str(p.get("text", ""))
        self._check_text(text, p.get("parse_mode"), 4096, "message")
        return self._outgoing("sendMessage", p, text, {})

    def _send_file(self, p: JSON, kind: str) -> JSON:
        """sendPhoto / sendDocument with an upload, a known file_id or a URL."""
        source, caption = p.get(kind), p.get("caption")
        if caption:
            self._check_text(caption, p.get("parse_mode"), 1024, "message caption")
        if isinstance(source, Upload):
            if not source.content:
                raise _ApiError(400, "Bad Request: file must be non-empty")
            meta = self._store_file(source.content, source.file_name, source.mime_type, kind + "s")
            upload: tuple[str | None, bytes | None] = (source.file_name, source.content)
        elif isinstance(source, str) and source in self._files:
            meta, content = self._files[source]
            upload = (meta["file_name"], content)
        elif isinstance(source, str) and source.startswith(("http://", "https://")):
            meta = self._store_file(b"", source.rsplit("/", 1)[-1], "application/octet-stream", kind + "s")
            upload = (meta["file_name"], None)
        else:
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        ids = {"file_id": meta["file_id"], "file_unique_id": meta["file_unique_id"], "file_size": meta["file_size"]}
        if kind == "photo":
            content_bytes = upload[1] or b""
            png = content_bytes[:8] == b"\x89PNG\r\n\x1a\n" and len(content_bytes) >= 24
            width, height = struct.unpack(">II", content_bytes[16:24]) if png else (640, 480)
            body: JSON = {"photo": [{**ids, "width": width, "height": height}]}
        else:
            body = {"document": {**ids, "file_name": meta["file_name"], "mime_type": meta["mime_type"]}}
        return self._outgoing("sendPhoto" if kind == "photo" else "sendDocument", p, caption, body, upload)

    def _edit(self, method: str, p: JSON) -> JSON | bool:
        """editMessageText / editMessageReplyMarkup of a stored message (no markup removes the keyboard)."""
        if "inline_message_id" in p:
            return True
        chat_id = self._chat_id(p)
        msg = self._messages.get((chat_id, int(p.get("message_id") or 0)))
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if msg["from"]["id"] != self.BOT["id"]:
            raise _ApiError(400, "Bad Request: message can't be edited")
        new = {"text": msg.get("text"), "entities": msg.get("entities"), "reply_markup": _inline(p.get("reply_markup"))}
        if method == "editMessageText":
            if new["text"] is None:
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            new |= {"text": str(p.get("text", "")), "entities": p.get("entities")}
            self._check_text(new["text"], p.get("parse_mode"), 4096, "message")
        if all(msg.get(k) == v for k, v in new.items()):
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                 "markup are exactly the same as a current content and reply markup of the message")
        for key, value in new.items():  # None removes: an edit without reply_markup drops the keyboard
            msg.pop(key, None)
            if value is not None:
                msg[key] = value
        msg["edit_date"] = int(time.time())
        markup = new["reply_markup"]
        self.sent.append(Sent(method, chat_id, msg["message_id"], msg.get("text", msg.get("caption")),
                              p.get("parse_mode"), _buttons(markup), None, None, None, p))
        return msg

    def _answer_callback(self, p: JSON) -> bool:
        """answerCallbackQuery: each query can be answered once."""
        query_id = str(p.get("callback_query_id"))
        if query_id not in self._open_queries:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._open_queries.discard(query_id)
        self.answered_callbacks.append(p)
        return True

    def _set_commands(self, p: JSON) -> bool:
        """setMyCommands / deleteMyCommands (scopes are not told apart)."""
        commands = list(p.get("commands") or [])
        if any(not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))) for c in commands):
            raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands = commands
        return True

    def _get_file(self, p: JSON) -> JSON:
        """getFile: the File object with the path to download it from."""
        entry = self._files.get(str(p.get("file_id")))
        if entry is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {k: entry[0][k] for k in ("file_id", "file_unique_id", "file_size", "file_path")}


def _post_json(url: str, body: JSON, headers: dict[str, str], deadline: float) -> int:
    """POSTs JSON and returns the HTTP status; a refused connection is tried again until the deadline."""
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, whatever http_proxy says
    while True:
        try:
            with opener.open(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as e:
            return e.code
        except urllib.error.URLError as e:
            if not isinstance(e.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def running(app: Application, *, timeout: float = 1.0) -> Iterator[Application]:
    """Runs a PTB Application (initialize, start, start_polling ... stop, shutdown) in a thread with its own loop."""
    loop, stop, ready = asyncio.new_event_loop(), asyncio.Event(), threading.Event()
    failures: list[BaseException] = []

    async def lifecycle() -> None:
        async with app:  # initialize ... shutdown, with the hooks run_polling() would call
            if app.post_init:
                await app.post_init(app)
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=timeout)
            ready.set()
            await stop.wait()
            await app.updater.stop()
            await app.stop()
        if app.post_shutdown:
            await app.post_shutdown(app)

    def run() -> None:
        try:
            loop.run_until_complete(lifecycle())
        except BaseException as exc:
            failures.append(exc)
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, name="PTB application", daemon=True)
    thread.start()
    ready.wait(30)
    try:
        if failures:
            raise failures[0]
        yield app
    finally:
        with suppress(RuntimeError):  # the loop is closed if the application already failed
            loop.call_soon_threadsafe(stop.set)
        thread.join(30)
    if failures:
        raise failures[0]
