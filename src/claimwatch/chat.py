"""The chat command layer, written once and served by the Telegram bot and the console chat.

A front end turns what a user did (a message, a button press) into an `Incoming`, calls
`ChatService.handle`, and shows the `Reply`s. Replies are Telegram HTML; every string that came
from a person is escaped. A button carries the command it runs, so a press is checked exactly like
a typed command: callback data is untrusted input, and a forged or stale button can do no more than
its presser could type.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from claimwatch import accuracy, ledger, render
from claimwatch.config import web_url
from claimwatch.errors import InputError, StoreError
from claimwatch.model import (
    ALERT_KINDS,
    DIGEST_FREQUENCIES,
    SHARED_SENDERS,
    CONSOLE_CHAT,
    TELEGRAM_IDENTITY,
    WRITE_AS_YOURSELF,
    Chat,
    Claim,
    Feed,
    Kind,
    Role,
    Source,
)
from claimwatch.parsing import (
    clip,
    feed_url,
    leading_probability,
    parse_date,
    parse_name,
    parse_probability,
    parse_tags,
    parse_watch_terms,
    shown_url,
)
from claimwatch.quickentry import read_quick_claim
from claimwatch.render import HTML
from claimwatch.store import Store

log = logging.getLogger(__name__)

PAGE_SIZE = 10
CONVERSATION_TIMEOUT = timedelta(minutes=15)
CALLBACK_LIMIT = 64  # bytes of callback data Telegram carries
SNOOZES = (("a day", 1), ("a week", 7), ("a month", 30), ("3 months", 91))
FORECAST_BUTTONS = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
CONFIRM = "!"  # a resolve button's confirmation mark


def esc(text: str) -> str:
    return HTML.esc(text)


_USER_ID = re.compile(r"-?[0-9]{1,15}")


def _a(role: Role) -> str:
    """'an analyst', 'a subscriber'."""
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # run as if the presser typed it
    url: str = ""  # instead of a command: a web address the button opens

    def __post_init__(self) -> None:
        if len(self.command.encode()) > CALLBACK_LIMIT:
            raise ValueError(f"button command longer than {CALLBACK_LIMIT} bytes: {self.command!r}")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes = field(repr=False)
    photo: bool = False  # a picture to show (a chart); else a document to download


@dataclass(frozen=True)
class Reply:
    text: str  # Telegram HTML
    buttons: tuple[tuple[Button, ...], ...] = ()
    edit: bool = False  # replace the message whose button was pressed
    attachment: Attachment | None = None  # sent with `text` as its caption when that fits


@dataclass(frozen=True)
class Incoming:
    """What a user did: typed `text`, or pressed a button carrying it."""

    user_id: int
    chat_id: int
    text: str
    user_name: str = ""
    chat_type: str = "private"
    chat_title: str = ""
    pressed: bool = False
    file: Attachment | None = None  # a document the user sent
    forwarded: Source | None = None  # where a forwarded message came from (its text is the quote)


@dataclass(frozen=True)
class ChatSettings:
    tz: ZoneInfo
    admins: frozenset[int] = frozenset()
    access: str = "invite"  # "invite": only users with a role; "open": anyone may read and subscribe
    bot_username: str = ""
    public_url: str = ""  # the web view's address (CLAIMWATCH_PUBLIC_URL), "" when not set
    allow_private_feeds: bool = False  # CLAIMWATCH_ALLOW_PRIVATE_FEEDS, for what /addfeed says

    @property
    def web_url(self) -> str:
        """Where sign-in links and public pages point."""
        return web_url(self.public_url)


@dataclass
class _Draft:
    """A guided /add in progress."""

    step: str
    started: datetime
    text: str = ""
    kind: Kind = Kind.CLAIM
    review_date: date | None = None
    p: float | None = None
    tags: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()
    source: Source = field(default_factory=Source)
    reminded: bool = False  # a command sent meanwhile has shown the question again: later ones get a line


@dataclass(frozen=True)
class _Context:
    msg: Incoming
    role: Role | None
    now: datetime
    today: date
    args: str

    @property
    def who(self) -> str:
        return self.msg.user_name or str(self.msg.user_id)

    @property
    def identity(self) -> str:
        """Who, for good: a Telegram user by their id (a name may change, or pass to someone else); "" for the
        console's user, who goes by their name (see `me`)."""
        return identity(self.msg.user_id)

    @property
    def me(self) -> str:
        """Who they are when asking "is this mine": their identity, or the console user's name (model._Acted)."""
        return self.identity or self.who


def identity(user_id: int) -> str:
    """A person's forecaster identity (Forecast.who) by their user id: "tg:<id>" for a Telegram user, "" for the
    console's user, who goes by their name as on the command line."""
    return "" if user_id == CONSOLE_CHAT else f"{TELEGRAM_IDENTITY}{user_id}"


@dataclass(frozen=True)
class Command:
    name: str
    role: Role | None  # None: anyone the bot answers
    usage: str
    summary: str
    run: Callable[[ChatService, _Context], list[Reply]] = field(repr=False)


def _tags_and_watch(answer: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The guided /add's answer for tags and watch terms: `energy, eu | watch EU sanctions`; a part that does not
    start with 'tags' or 'watch' gives the tags (so `sanctions, eu` alone is two tags)."""
    tags: tuple[str, ...] | None = None
    watch: tuple[str, ...] | None = None
    for part in answer.split("|"):
        word, _, value = part.strip().partition(" ")
        if word.lower() == "watch":
            if watch is not None:
                raise InputError("give the watch terms once, e.g. energy, russia | watch Power of Siberia 2")
            watch = parse_watch_terms(value).terms()
            continue
        if tags is not None:
            raise InputError("give the tags once, then '| watch' and the terms, e.g. energy | watch Power of Siberia 2")
        if word.lower() != "tags":
            value = part
            several = next((item.strip() for item in value.split(",") if len(item.split()) > 1), None)
            if several:  # "Power of Siberia 2" is a watch term, not four tags
                raise InputError(f"{clip(several)!r} is not a tag (tags are single words: energy, russia); "
                                 "start watch terms with 'watch': energy | watch Power of Siberia 2")
        tags = parse_tags(value)
    return tags or (), watch or ()
_AS_YOURSELF = Reply(f"⚠️ {WRITE_AS_YOURSELF[0].upper()}{WRITE_AS_YOURSELF[1:]}.")


def _file_refusal(role: Role | None, filename: str) -> Reply | None:
    if not filename.lower().endswith((".opml", ".xml")):
        return Reply("Send an OPML file (.opml) to add feeds; other files are not read here.")
    if role != Role.ADMIN:
        return Reply("Only admins can add feeds.")
    return None


_LINK = re.compile(r"https?://\S+", re.IGNORECASE)
_CONFIRM_BUTTONS = ((Button("Save", "save"), Button("Edit", "edit"), Button("Cancel", "/cancel")),)


def _event_date(note: str, now: datetime, tz: ZoneInfo) -> tuple[date | None, str]:
    """An outcome's note that starts with when it happened (`on 2024-06-01`, or `--date` and a date as on the
    command line): that date, and the rest of the note. Only an ISO date follows `on`, so a note such as "on
    Tuesday the talks collapsed" stays a note."""
    first, _, rest = note.partition(" ")
    when, _, after = rest.strip().partition(" ")
    if first.lower() == "--date":
        if not when:
            raise InputError("give the event date after --date, e.g. --date 2024-06-01")
        return parse_date(when, now, tz), after.strip()
    if first.lower() == "on" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", when):
        return parse_date(when, now, tz), after.strip()
    return None, note


START_WITH = ("list", "show", "due", "subscribe", "add", "forecast", "mine", "web")  # /start's few


def _help_line(command: Command) -> str:
    return f"<code>{esc(command.usage)}</code> — {esc(command.summary)}"


def _one_line_add(draft: _Draft) -> str:
    """A draft as the one-line /add that records it."""
    parts = [draft.text]
    if draft.kind is not Kind.CLAIM:
        parts.append(f"kind {draft.kind.value}")
    if draft.review_date:
        parts.append(f"due {draft.review_date}")
    if draft.p is not None:
        parts.append(f"p {render.percent(draft.p)}")
    if draft.tags:
        parts.append(f"tags {', '.join(draft.tags)}")
    if draft.watch:
        parts.append(f"watch {', '.join(draft.watch)}")
    if draft.source.url or draft.source.title:
        parts.append(f"source {draft.source.url or draft.source.title}")
    return "/add " + " | ".join(parts)


def _since(start: date, today: date) -> str:
    """What a snooze counted from, in words."""
    return "today" if start == today else f"its review date, {start}"


def _split(text: str) -> tuple[str, str]:
    """'/Forecast@bot 3 70%' -> ('forecast', '3 70%')."""
    head, *rest = text.strip().split(None, 1)
    return head[1:].split("@", 1)[0].lower(), rest[0].strip() if rest else ""


class ChatService:
    """Every chat command, with its access checks."""

    def __init__(self, store: Store, settings: ChatSettings) -> None:
        self.store = store
        self.settings = settings
        self._drafts: dict[tuple[int, int], _Draft] = {}

    # --- entry point -----------------------------------------------------------------------------

    def handle(self, msg: Incoming, now: datetime) -> list[Reply]:
        """The replies to one message or button press. Bad input gets a clear reply, never an exception."""
        try:
            return [replace(r, text=render.visible(r.text)) for r in self._handle(msg, now)]
        except StoreError as e:  # a damaged or unwritable data file: the admins read which in the log
            log.error("%s", e)
            return [Reply("⚠️ claimwatch cannot read or change its data right now; its admins can see why in "
                          "its log.")]

    def _handle(self, msg: Incoming, now: datetime) -> list[Reply]:
        if msg.user_id in SHARED_SENDERS:  # answered when addressed (not at each post a linked channel forwards)
            addressed = msg.text.strip().startswith("/") or msg.pressed or msg.file is not None
            return [_AS_YOURSELF] if addressed else []
        role = self.role_of(msg.user_id)
        today = now.astimezone(self.settings.tz).date()
        text = msg.text.strip()
        if text.startswith("/"):
            name, args = _split(text)
            target = text.split(None, 1)[0].partition("@")[2]
            if target and self.settings.bot_username and target.lower() != self.settings.bot_username.lower():
                return []  # a command for another bot in a group
        else:
            name, args = "", text
        if not name and msg.chat_type != "private" and (msg.chat_id, msg.user_id) not in self._drafts \
                and msg.file is None:
            return []  # people talking in a group, not to the bot
        ctx = _Context(msg, role, now, today, args)
        key = (msg.chat_id, msg.user_id)
        try:
            if name == "start" and args:
                return self._start_with_invite(ctx)
            if role is None and self.settings.access != "open":
                return [Reply("This claimwatch bot is invite-only. Ask one of its admins for an invite link.")]
            if msg.file is not None:
                return self._received_file(ctx, msg.file)
            if not name and role and role.allows(Role.ANALYST) and msg.chat_type == "private" and key not in self._drafts:
                if msg.forwarded is not None:
                    return self._forwarded(ctx, msg.forwarded)
                if _LINK.fullmatch(text):  # a link sent on its own: the one-line /add with it as the source
                    return [Reply("Record a claim from this link? Send what it claims, with the link as its source:\n"
                                  f"<code>/add {esc('<what is claimed>')} | source {esc(text)}</code>")]
            if not name:
                return self._conversation_step(ctx)
            command = COMMANDS.get(name)
            if command is None:
                return [Reply(f"I don't know /{esc(name)}. /help lists what you can do.")]
            if not allowed(role, name):
                return [Reply(f"/{name} is for {command.role.value}s. /help lists what you can do.")]
            dropped = self._drafts.pop(key, None) if name == "add" else None  # a new /add replaces a draft
            replies = command.run(self, ctx)
            if dropped is not None:
                replies.insert(0, Reply(f"Your earlier draft ({esc(clip(dropped.text) or 'no text yet')}) "
                                        "was dropped; nothing of it was saved."))
            return replies + self._draft_kept(ctx, name)
        except InputError as e:
            usage = COMMANDS[name].usage if name in COMMANDS else ""
            return [Reply(f"⚠️ {esc(str(e))}" + (f"\nUsage: <code>{esc(usage)}</code>" if usage else ""))] \
                + self._draft_kept(ctx, name)

    def _draft_kept(self, ctx: _Context, name: str) -> list[Reply]:
        """A command sent while a guided /add waits leaves the draft as it was, and says so: asking again the first
        time, in a line after that (with the question's buttons)."""
        draft = self._drafts.get((ctx.msg.chat_id, ctx.msg.user_id))
        if not name or name in ("add", "cancel") or draft is None or ctx.now - draft.started > CONVERSATION_TIMEOUT:
            return []
        question = self._question(draft, ctx.now)
        if draft.reminded:
            return [Reply(f"(Your /add draft still waits: {esc(clip(draft.text) or 'no text yet')}. /cancel drops it.)",
                          question.buttons)]
        draft.reminded = True
        return [Reply("Your /add draft is kept. " + question.text, question.buttons)]

    def role_of(self, user_id: int) -> Role | None:
        if user_id in SHARED_SENDERS:  # never a role, whatever older data says
            return None
        if user_id in self.settings.admins:
            return Role.ADMIN
        user = self.store.user(user_id)
        return user.role if user else None

    def chat_unreachable(self, chat_id: int, reason: str, now: datetime) -> None:
        """The bot was blocked or removed: stop writing to that chat until it writes again."""
        self.store.deactivate_chat(chat_id, reason, now)

    def seen(self, msg: Incoming, now: datetime) -> None:
        """Remember the chat, and that it is reachable again; not a stranger's new chat when the bot is
        invite-only (they can do nothing here, and each message would rewrite the people file)."""
        chat = self.store.chat(msg.chat_id)
        if chat is None and self.settings.access != "open" and self.role_of(msg.user_id) is None:
            return
        title = msg.chat_title or msg.user_name
        if chat is None or not chat.active or chat.title != title:
            self.store.save_chat(replace(chat, type=msg.chat_type, title=title, active=True, reason="", changed_at=now)
                                 if chat else Chat(msg.chat_id, msg.chat_type, title, True, "", now))

    # --- start, help, invites --------------------------------------------------------------------

    def _start_with_invite(self, ctx: _Context) -> list[Reply]:
        role = self.store.use_invite(ctx.args.split()[0], ctx.msg.user_id, ctx.who, ctx.now)
        granted = self.role_of(ctx.msg.user_id)
        kept = f" (you keep your role as {_a(granted)})" if granted and granted != role else ""
        return [Reply(f"Welcome! The invite makes you {_a(role)}{kept}.\n\n" + self._beginning(granted))]

    def cmd_start(self, ctx: _Context) -> list[Reply]:
        return [Reply("claimwatch keeps track of claims and forecasts from reports, watches the news for "
                      "evidence, and scores who forecasts well.\n\n" + self._beginning(ctx.role))]

    def _beginning(self, role: Role | None) -> str:
        """The commands to begin with that `role` may use (START_WITH); /help lists them all."""
        mine = self._commands(role)
        return (f"{self._you(role)} To begin:\n" + "\n".join(_help_line(c) for c in mine if c.name in START_WITH)
                + f"\n/help lists all {len(mine)} commands you can use.")

    def cmd_help(self, ctx: _Context) -> list[Reply]:
        return [Reply(f"{self._you(ctx.role)} Commands:\n" + "\n".join(map(_help_line, self._commands(ctx.role))))]

    @staticmethod
    def _commands(role: Role | None) -> list[Command]:
        return [c for c in COMMANDS.values() if c.summary and (c.role is None or (role and role.allows(c.role)))]

    @staticmethod
    def _you(role: Role | None) -> str:
        return f"You are {_a(role)}." if role else "You can read and follow claims."

    def cmd_invite(self, ctx: _Context) -> list[Reply]:
        word = ctx.args.lower()
        if word not in (Role.ANALYST.value, Role.SUBSCRIBER.value):  # admins are made with /grant
            raise InputError("say which role the invite grants: analyst or subscriber")
        if not self.settings.bot_username:  # the console: not a usage mistake, so no usage line
            return [Reply("Invite links are made by the Telegram bot (a link names it). Here, give a role to a "
                          "Telegram user id with /grant &lt;user id&gt; &lt;role&gt;.")]
        token = secrets.token_urlsafe(12)
        self.store.add_invite(token, Role(word), ctx.who, ctx.now)
        link = f"https://t.me/{self.settings.bot_username}?start={token}"
        return [Reply(f"One-time invite for {_a(Role(word))}: {esc(link)}\nIt grants the role to the first person who opens it.")]

    # --- claims ----------------------------------------------------------------------------------

    def cmd_add(self, ctx: _Context) -> list[Reply]:
        if not ctx.args:
            draft = self._drafts[(ctx.msg.chat_id, ctx.msg.user_id)] = _Draft("text", ctx.now)
            return [self._question(draft, ctx.now)]
        text, *parts = [p.strip() for p in ctx.args.split("|")]
        if not parts:  # one sentence: what it says of its date, probability and names, shown before saving
            quick = read_quick_claim(ledger.claim_text(text), ctx.now, self.settings.tz)
            if quick.understood():
                draft = self._drafts[(ctx.msg.chat_id, ctx.msg.user_id)] = _Draft(
                    "confirm", ctx.now, text=quick.text, kind=quick.kind, review_date=quick.review_date, p=quick.p,
                    watch=quick.watch)
                return [self._question(draft, ctx.now)]
        fields: dict[str, object] = {}
        for part in parts:
            key, _, value = part.partition(" ")
            key, value = key.lower(), value.strip()
            if not value:
                raise InputError(f"'{key}' needs a value")
            if key == "due":
                fields["review_date"] = parse_date(value, ctx.now, self.settings.tz)
            elif key == "p":
                fields["p"] = parse_probability(value)
            elif key == "tags":
                fields["tags"] = parse_tags(value)
            elif key == "watch":
                fields["watch"] = parse_watch_terms(value).terms()
            elif key == "source":
                fields["source"] = ledger.source_from_text(value)
            elif key == "kind":
                fields["kind"] = ledger.parse_kind(value)
            else:
                raise InputError(f"unknown part {key!r}: use due, p, tags, watch, source or kind")
        claim = ledger.add_claim(self.store, ledger.NewClaim(text=text, **fields), ctx.who, ctx.now,
                                 who=ctx.identity)  # type: ignore[arg-type]
        return [self._added(claim, ctx.now, ctx.today)]

    def _added(self, claim: Claim, now: datetime, today: date) -> Reply:
        """The reply to a claim recorded: a review date in the past is pointed out, and a claim with watch terms
        is matched against the recent news at once."""
        past = render.past_review(claim, today)
        found = ledger.match_recent_news(self.store, [claim], now) if claim.watch else 0
        notes = (f"\n⚠️ Note: {esc(past)}." if past else "") + \
            (f"\n{ledger.recent_news_note(found, f'/evidence {claim.id}')}." if found else "")
        read = f"\nSource's probability: {render.percent(claim.p)}." if claim.p is not None else ""  # as read
        return Reply(f"Recorded <b>#{claim.id}</b>: {esc(claim.text)}{read}{notes}",
                     ((Button("Show", f"/show {claim.id}"), Button("Forecast…", f"/forecast {claim.id}")),))

    def _conversation_step(self, ctx: _Context) -> list[Reply]:
        key = (ctx.msg.chat_id, ctx.msg.user_id)
        draft = self._drafts.get(key)
        if draft is None:
            return [Reply("Send a command; /help lists them.")] if ctx.msg.chat_type == "private" else []
        if ctx.now - draft.started > CONVERSATION_TIMEOUT:
            del self._drafts[key]
            return [Reply("That /add timed out; nothing was saved. Start again with /add.")]
        if not (ctx.role and ctx.role.allows(Role.ANALYST)):  # the role may have been revoked meanwhile
            del self._drafts[key]
            return [Reply("Only analysts can add claims.")]
        answer = ctx.args.strip()
        skip = answer.lower() in ("skip", "-", "none")
        if draft.step == "confirm":
            if answer.lower() == "edit":  # the one-line form, filled in: change what is wrong and send it
                return [Reply("Change what is wrong and send it back (this draft is kept until then):\n"
                              f"<code>{esc(_one_line_add(draft))}</code>", _CONFIRM_BUTTONS)]
            if answer.lower() not in ("save", "yes"):
                return [Reply("Press Save, Edit, or /cancel.", _CONFIRM_BUTTONS)]
            del self._drafts[key]
            claim = ledger.add_claim(self.store, ledger.NewClaim(
                text=draft.text, kind=draft.kind, review_date=draft.review_date, p=draft.p, tags=draft.tags,
                watch=draft.watch, source=draft.source), ctx.who, ctx.now, who=ctx.identity)
            return [self._added(claim, ctx.now, ctx.today)]
        if draft.step == "text":
            if not answer:
                raise InputError("send the claim's text")
            draft.text, draft.step = answer, "due"
        elif draft.step == "due":
            draft.review_date = None if skip else parse_date(answer, ctx.now, self.settings.tz)
            draft.step = "p"
        elif draft.step == "p":
            draft.p = None if skip else parse_probability(answer)
            draft.step = "terms"
        elif draft.step == "terms":
            if not skip:
                draft.tags, draft.watch = _tags_and_watch(answer)
            draft.step = "confirm"
        return [self._question(draft, ctx.now)]

    def _question(self, draft: _Draft, now: datetime) -> Reply:
        """What a guided /add asks at its step."""
        skip = ((Button("Skip", "skip"),),)
        if draft.step == "text":
            return Reply("New claim. What is claimed or forecast? Send the text (or /cancel).")
        if draft.step == "due":
            return Reply("Review date? e.g. 2026-06-30, 'in 3 months', 'end of June' (or skip).", skip)
        if draft.step == "p":
            return Reply("Probability the source gives? e.g. 70%, 0.7, 'likely' (or skip).", skip)
        if draft.step == "terms":
            return Reply("Tags and watch terms? e.g. <code>energy, russia | watch Power of Siberia 2, "
                         "Сила Сибири 2</code> (tags first; or skip). Terms match every word form (Минск finds "
                         "«в Минске»); <code>word*</code> matches words starting with it, <code>=word</code> that "
                         "form only.", skip)
        tried = ""
        if draft.watch:  # what the terms would find, so they can be tuned before saving
            count = len(ledger.try_watch_terms(self.store, ", ".join(draft.watch), now))
            tried = f" ({ledger.recent_news_note(count)}: <code>/trywatch {esc(', '.join(draft.watch))}</code>)"
        source = " · ".join(x for x in (draft.source.title, draft.source.url) if x)
        summary = [esc(draft.text), f"kind: {draft.kind.value}", *([f"source: {esc(source)}"] if source else []),
                   f"review: {draft.review_date or '—'}",
                   f"probability: {render.percent(draft.p) if draft.p is not None else '—'}",
                   f"tags: {esc(', '.join(draft.tags)) or '—'}", f"watch: {esc(', '.join(draft.watch)) or '—'}{tried}"]
        return Reply("Save this claim?\n" + "\n".join(summary), _CONFIRM_BUTTONS)

    def _forwarded(self, ctx: _Context, source: Source) -> list[Reply]:
        """A message an analyst forwarded: a draft claim with the message as its source, saved on one tap."""
        sentence = re.split(r"(?<=[.!?。！？])\s", ctx.args.strip(), maxsplit=1)[0]
        quick = read_quick_claim(ledger.claim_text(clip(sentence, 300)), ctx.now, self.settings.tz)
        draft = self._drafts[(ctx.msg.chat_id, ctx.msg.user_id)] = _Draft(
            "confirm", ctx.now, text=quick.text, kind=quick.kind, review_date=quick.review_date, p=quick.p,
            watch=quick.watch,
            source=replace(source, quote=clip(ctx.args.strip(), 4000)))
        question = self._question(draft, ctx.now)
        return [Reply("Record a claim from this message? " + question.text, question.buttons)]

    def cmd_cancel(self, ctx: _Context) -> list[Reply]:
        if self._drafts.pop((ctx.msg.chat_id, ctx.msg.user_id), None) is None:
            return [Reply("Nothing to cancel.")]
        return [Reply("Cancelled; nothing was saved.")]

    def cmd_list(self, ctx: _Context) -> list[Reply]:
        words = ctx.args.split()
        page = 1
        if words and words[-1].startswith("p:") and words[-1][2:].isdecimal():
            page = max(1, int(words.pop()[2:]))
        shown, page, pages, total = ledger.list_page(self.store, words, ctx.today, page, PAGE_SIZE)
        what = " ".join(words) or "open"
        if not total:
            return [Reply(f"No claims match {esc(what)}.")]
        text = f"Claims ({esc(what)}), page {page} of {pages}, {total} in all:\n" + \
            render.claim_list(shown, ctx.today, m=HTML)
        nav = []
        for label, target in (("« Previous", page - 1), ("Next »", page + 1)):
            command = f"/list {' '.join(words)} p:{target}".replace("  ", " ")
            if 1 <= target <= pages and len(command.encode()) <= CALLBACK_LIMIT:
                nav.append(Button(label, command))
        rows = (tuple(Button(f"#{c.id}", f"/show {c.id}") for c in shown[i:i + 5]) for i in range(0, len(shown), 5))
        return [Reply(text, (*rows, tuple(nav)) if nav else tuple(rows), edit=ctx.msg.pressed)]

    def cmd_show(self, ctx: _Context) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.split()[0] if ctx.args else "")
        claim, hidden = ledger.as_seen_by(self.store, self.store.get_claim(number), ctx.me)
        text = render.claim_detail(claim, self.store.evidence_for(number), ctx.today, self.settings.tz, HTML, hidden)
        buttons: list[Button] = []
        if ctx.role and ctx.role.allows(Role.ANALYST):
            if claim.outcome:
                buttons.append(Button("Reopen", f"/reopen {number}"))
            else:
                buttons += [Button("Forecast…", f"/forecast {number}"), Button("Resolve…", f"/resolve {number}")]
        following = any(s.target == str(number) for s in self.store.subscriptions(ctx.msg.chat_id))
        buttons.append(Button("Unsubscribe", f"/unsubscribe {number}") if following
                       else Button("Subscribe", f"/subscribe {number}"))
        buttons.append(Button("History", f"/history {number}"))
        rows: tuple[tuple[Button, ...], ...] = (tuple(buttons),)
        if self.settings.public_url:
            rows += ((Button("Open in browser", "", url=f"{self.settings.public_url}/claims/{number}"),),)
        return [Reply(text, rows)]

    def cmd_forecast(self, ctx: _Context) -> list[Reply]:
        parts = ctx.args.split(None, 2)
        if not parts:
            raise InputError("say which claim, and your probability")
        number = ledger.parse_claim_number(parts[0])
        if len(parts) == 1:
            claim = self.store.get_claim(number)
            buttons = [Button(f"{p}%", f"/forecast {number} {p}%") for p in FORECAST_BUTTONS]
            return [Reply(f"Your forecast for #{number}: {esc(claim.text)}",
                          (tuple(buttons[:6]), tuple(buttons[6:])))]
        rest = ctx.args.split(None, 1)[1]
        if rest.strip().lower() == "withdraw":
            claim = ledger.withdraw_forecast(self.store, number, ctx.who, ctx.now, who=ctx.identity)
            now_p = claim.current_forecasts().get(ctx.me)
            return [Reply(f"#{number}: your latest forecast is withdrawn (kept in /history {number}, never scored)"
                          + (f"; your forecast is {render.percent(now_p.p)} again." if now_p else "."))]
        p, used = leading_probability(rest.split())  # "very likely" is two words
        note = rest.split(None, used)[used] if len(rest.split(None, used)) > used else ""
        claim = ledger.add_forecast(self.store, number, p, ctx.who, ctx.now, note, who=ctx.identity)
        return [Reply(f"#{claim.id}: your forecast is {render.percent(p)}.", edit=ctx.msg.pressed)]

    def _may_delete(self, ctx: _Context, number: int) -> None:
        """A claim is deleted or restored by the analyst who recorded it, or an admin."""
        claim = self.store.get_claim(number)
        if ctx.role != Role.ADMIN and claim.creator != ctx.me:
            raise InputError(f"#{number} was recorded by {claim.created_by}: only they or an admin may delete "
                             "or restore it")

    def cmd_delete(self, ctx: _Context) -> list[Reply]:
        number_text, _, reason = ctx.args.strip().partition(" ")
        number = ledger.parse_claim_number(number_text)
        self._may_delete(ctx, number)
        ledger.delete_claim(self.store, number, ctx.who, ctx.now, reason, who=ctx.identity)
        return [Reply(f"#{number} is deleted: out of lists, reminders, digests and stats, kept with its history. "
                      f"/restore {number} brings it back.", ((Button("Restore", f"/restore {number}"),),))]

    def cmd_restore(self, ctx: _Context) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.strip())
        self._may_delete(ctx, number)
        claim = ledger.restore_claim(self.store, number, ctx.who, ctx.now, who=ctx.identity)
        return [Reply(f"#{number} is back: {esc(claim.text)}", edit=ctx.msg.pressed)]

    def cmd_resolve(self, ctx: _Context) -> list[Reply]:
        parts = ctx.args.split(None, 2)
        if not parts:
            raise InputError("say which claim, and its outcome")
        number = ledger.parse_claim_number(parts[0])
        claim = self.store.get_claim(number)
        if len(parts) == 1:
            return [Reply(f"Outcome of #{number}: {esc(claim.text)}",
                          (tuple(Button(v, f"/resolve {number} {v}") for v in ("true", "false", "partial", "void")),))]
        value = ledger.parse_outcome(parts[1])
        note = parts[2] if len(parts) > 2 else ""
        event_date, note = _event_date(note, ctx.now, self.settings.tz)
        confirmed = note == CONFIRM
        if ctx.msg.pressed and not confirmed:
            return [Reply(f"Record #{number} as <b>{value.value}</b>? {esc(claim.text)}",
                          ((Button(f"Yes, {value.value}", f"/resolve {number} {value.value} {CONFIRM}"),
                            Button("Cancel", f"/show {number}")),), edit=True)]
        claim = ledger.resolve(self.store, number, value, ctx.who, ctx.now, who=ctx.identity, note="" if confirmed else note,
                               event_date=event_date, today=ctx.today)
        late = render.hindsight(claim, self.settings.tz)
        return [Reply(f"#{number} resolved: <b>{value.value}</b>." + (f"\n{esc(late)}" if late else ""),
                      edit=ctx.msg.pressed)]

    def cmd_reopen(self, ctx: _Context) -> list[Reply]:
        number_text, _, note = ctx.args.partition(" ")
        number = ledger.parse_claim_number(number_text)
        ledger.reopen(self.store, number, ctx.who, ctx.now, note, who=ctx.identity)
        return [Reply(f"#{number} is open again; its old outcome stays in /history {number}.")]

    def cmd_edit(self, ctx: _Context) -> list[Reply]:
        parts = ctx.args.split(None, 2)
        if len(parts) < 3:
            raise InputError(f"say which claim, which field ({', '.join(ledger.EDITABLE)}) and the new value")
        number = ledger.parse_claim_number(parts[0])
        claim = ledger.edit_claim(self.store, number, parts[1], parts[2], ctx.who, ctx.now, self.settings.tz,
                                  who=ctx.identity)
        past = render.past_review(claim, ctx.today) if parts[1].lower() == "due" else ""
        found = 0
        if parts[1].lower() == "watch" and claim.watch:  # the new terms may find what the old ones did not
            found = ledger.match_recent_news(self.store, [claim], ctx.now)
        notes = (f"\n⚠️ Note: {esc(past)}." if past else "") + \
            (f"\n{ledger.recent_news_note(found, f'/evidence {claim.id}')}." if found else "")
        return [Reply(f"#{claim.id} updated: {esc(parts[1].lower())}{esc(render.read_as(claim, parts[1]))}.{notes}")]

    def cmd_trywatch(self, ctx: _Context) -> list[Reply]:
        if not ctx.args.strip():
            raise InputError("give the watch terms to try, e.g. /trywatch Минск, Belarus*, 明斯克")
        found = ledger.try_watch_terms(self.store, ctx.args, ctx.now)
        return [Reply(render.tried_terms(found, ledger.RECENT_DAYS, self.settings.tz, HTML))]

    def cmd_due(self, ctx: _Context) -> list[Reply]:
        claims = ledger.due(self.store, ctx.today)
        if not claims:
            return [Reply("No open claims are due for review.")]
        return [Reply(f"Due for review ({len(claims)}):\n" + render.claim_list(claims, ctx.today, m=HTML))]

    def cmd_history(self, ctx: _Context) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.split()[0] if ctx.args else "")
        changes = ledger.history_as_seen_by(self.store, number, ctx.me)
        return [Reply(f"History of #{number}:\n" + render.history(changes, self.settings.tz, HTML))]

    # --- accuracy and exports ------------------------------------------------------------------

    def cmd_stats(self, ctx: _Context) -> list[Reply]:
        from claimwatch.charts import calibration_png  # matplotlib loads only when a chart is drawn

        scope = ledger.parse_scope(ctx.args.split())
        result = ledger.accuracy_review(self.store, self.settings.tz, scope)
        if not result["n_forecasts"]:  # an empty chart says nothing
            return [Reply(esc(accuracy.summary_text(result)))]
        chart = calibration_png(result["calibration"], accuracy.calibration_title(result))
        caption = f"Calibration ({esc(scope.describe())}): how often what was forecast at each level happened."
        return [Reply(esc(accuracy.summary_text(result))),
                Reply(caption, attachment=Attachment("calibration.png", chart, photo=True))]

    def cmd_me(self, ctx: _Context) -> list[Reply]:
        from claimwatch.charts import calibration_png  # matplotlib loads only when a chart is drawn

        if ctx.args.strip():
            raise InputError("/me takes no arguments: it is your own record (/stats @name for another's)")
        result = ledger.accuracy_review(self.store, self.settings.tz, accuracy.Scope(forecaster=ctx.me), check=False)
        replies = [Reply(esc(accuracy.track_record_text(result, ctx.who)))]
        if accuracy.own_record(result) is not None:
            chart = calibration_png(result["calibration"], f"Calibration of {ctx.who}")
            replies.append(Reply(f"Calibration of {esc(ctx.who)}: how often what you forecast at each level happened.",
                                 attachment=Attachment("calibration.png", chart, photo=True)))
        return replies

    def cmd_examples(self, ctx: _Context) -> list[Reply]:
        action = ctx.args.strip().lower()
        if action == "load":
            added = ledger.load_examples(self.store, ctx.now, ctx.who, who=ctx.identity)
            return [Reply(f"Loaded {render.count(added, 'example claim')} from the source report, tagged #example "
                          "(/examples remove deletes them)." if added else "The example claims are here already.")]
        if action == "remove":
            removed = ledger.remove_examples(self.store, ctx.who, ctx.now, who=ctx.identity)
            return [Reply(f"Deleted {render.count(removed, 'example claim')} (/list deleted shows them)." if removed
                          else "No example claims are listed.")]
        raise InputError("say load or remove")

    def cmd_mine(self, ctx: _Context) -> list[Reply]:
        rows = ledger.own_forecasts(self.store, ctx.me)
        if not rows:
            return [Reply("You have no open forecasts. /todo lists the open claims you have not forecast.")]
        return [Reply(f"Your open forecasts ({len(rows)}), due soonest first:\n"
                      + render.own_forecast_list(rows[:PAGE_SIZE], ctx.today, "", HTML)
                      + (f"\n… and {len(rows) - PAGE_SIZE} more (claimwatch mine lists them all)." if len(rows) > PAGE_SIZE
                         else ""))]

    def cmd_todo(self, ctx: _Context) -> list[Reply]:
        claims = ledger.not_yet_forecast(self.store, ctx.me)
        if not claims:
            return [Reply("You have forecast every open claim.")]
        shown = claims[:PAGE_SIZE]
        rows = tuple((Button(f"Forecast #{c.id}", f"/forecast {c.id}"),) for c in shown)
        more = f"\n… and {len(claims) - PAGE_SIZE} more (claimwatch todo lists them all)." if len(claims) > PAGE_SIZE else ""
        return [Reply(f"Open claims you have not forecast ({len(claims)}), due soonest first:\n"
                      + render.claim_list(shown, ctx.today, m=HTML) + more, rows)]

    def cmd_leaderboard(self, ctx: _Context) -> list[Reply]:
        result = ledger.accuracy_review(self.store, self.settings.tz, ledger.parse_scope(ctx.args.split()))
        return [Reply(esc(accuracy.leaderboard_text(result)))]

    def cmd_export(self, ctx: _Context) -> list[Reply]:
        fmt = ctx.args.strip().lower() or "json"
        text = ledger.export_claims(self.store, fmt, ctx.now, self.settings.tz)
        name = f"claimwatch-{ctx.today}." + {"json": "json", "csv": "csv", "claimreview": "claimreview.jsonld"}[fmt]
        what = {"json": "every claim, re-importable", "csv": "a row per forecast, with scores",
                "claimreview": "schema.org ClaimReview of resolved claims"}[fmt]
        return [Reply(f"Export ({what}).", attachment=Attachment(name, text.encode("utf-8")))]

    # --- feeds and evidence -----------------------------------------------------------------------

    def cmd_feeds(self, ctx: _Context) -> list[Reply]:
        feeds = self.store.feeds()
        if not feeds:
            return [Reply("No feeds are watched yet." + (" Add one with /addfeed &lt;url&gt; [name]."
                                                          if ctx.role == Role.ADMIN else ""))]
        return [Reply("Feeds:\n" + "\n".join(esc(render.feed_line(f, self.settings.tz)) for f in feeds))]

    def cmd_addfeed(self, ctx: _Context) -> list[Reply]:
        url, _, name = ctx.args.strip().partition(" ")
        if not url or len(url) > 2000:
            raise InputError("give the feed's http(s) address, and a name if you like")
        url = feed_url(url)
        name = parse_name(" ".join(name.split()), "a feed's name") if name.strip() else shown_url(url)
        feed = self.store.add_feed(Feed(0, url, name, ctx.now, ctx.who))
        from claimwatch.fetch import refusal  # (libcurl loads for this check alone)

        why = refusal(url, self.settings.allow_private_feeds)
        return [Reply(f"Watching feed {feed.id}: {esc(feed.name)}. "
                      + (f"⚠️ The watcher will not fetch it: {esc(why)}." if why else "It is checked in the next cycle."))]

    def cmd_removefeed(self, ctx: _Context) -> list[Reply]:
        text = ctx.args.strip()
        if not (text.isascii() and text.isdecimal()) or len(text) > 9:
            raise InputError("give the feed's number from /feeds")
        return [Reply(f"Stopped watching {esc(self.store.remove_feed(int(text)).name)}; its evidence stays.")]

    def file_refusal(self, user_id: int, filename: str) -> Reply | None:
        """Why a file this user sends is not read, known before it is downloaded; None when it is read."""
        return _AS_YOURSELF if user_id in SHARED_SENDERS else _file_refusal(self.role_of(user_id), filename)

    def _received_file(self, ctx: _Context, file: Attachment) -> list[Reply]:
        """An OPML file from an admin adds its feeds; other files are not for this bot."""
        from claimwatch import opml  # listparser loads only when an OPML file arrives

        refusal = _file_refusal(ctx.role, file.filename)
        if refusal is not None:
            return [refusal]
        result = opml.read_opml(file.content)
        added, known = ledger.add_feeds(self.store, result.feeds, ctx.who, ctx.now)
        problems = "".join(f"\n⚠️ {esc(p)}" for p in result.problems)
        return [Reply(f"{esc(file.filename)}: {render.count(added, 'feed')} added, {known} watched already.{problems}")]

    def cmd_evidence(self, ctx: _Context) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.split()[0] if ctx.args else "")
        self.store.get_claim(number)
        items = self.store.evidence_for(number)[:10]
        if not items:
            return [Reply(f"No evidence for #{number} yet.")]
        lines = [render.evidence_line(e, self.settings.tz, HTML) for e in items]
        rows: tuple[tuple[Button, ...], ...] = ()
        if ctx.role and ctx.role.allows(Role.ANALYST):
            rows = tuple(tuple(Button(f"[{e.seq}] {word}", f"/label {number} {e.seq} {word}")
                               for word in ("supports", "contradicts", "irrelevant")) for e in items)
        return [Reply(f"Evidence for #{number} (latest first):\n" + "\n".join(lines), rows)]

    def cmd_label(self, ctx: _Context) -> list[Reply]:
        parts = ctx.args.split()
        if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdecimal()) or len(parts[1]) > 9:
            raise InputError("say which claim, which evidence item and the stance")
        number = ledger.parse_claim_number(parts[0])
        item = self.store.label_evidence(number, int(parts[1]), ledger.parse_stance(parts[2]), ctx.who, ctx.now,
                                         who=ctx.identity)
        return [Reply(f"Evidence [{item.seq}] on #{number}: {item.stance.value}.")]

    # --- subscriptions ---------------------------------------------------------------------------

    def _target(self, text: str) -> str:
        word = text.strip().lower()
        if word in ("", "all"):
            return "all"
        if word.startswith("#") and not word[1:].isdecimal():
            return "#" + parse_tags(word)[0]
        number = ledger.parse_claim_number(word)
        self.store.get_claim(number)
        return str(number)

    def cmd_subscribe(self, ctx: _Context) -> list[Reply]:
        words = ctx.args.lower().replace(",", " ").split()
        kinds = tuple(k for k in ALERT_KINDS if k in words)
        rest = [w for w in words if w not in ALERT_KINDS]
        if len(rest) > 1:
            extra = rest[1]
            if not (extra == "all" or extra.startswith("#") or extra.isdecimal()):
                raise InputError(f"{extra!r} is not a kind of alert: use {', '.join(ALERT_KINDS)}")
            raise InputError(f"follow one target at a time; the kinds of alert are {', '.join(ALERT_KINDS)}")
        target = self._target(rest[0] if rest else "")
        changed = self.store.subscribe(ctx.msg.chat_id, target, ctx.now, kinds or ALERT_KINDS)
        if ctx.msg.pressed:  # a toggle in the /subscriptions list: show the list again
            return [replace(self.cmd_subscriptions(ctx)[0], edit=True)]
        what, which = _describe_target(target), ", ".join(kinds or ALERT_KINDS)
        return [Reply(f"Subscribed to {what}: {which}." if changed else f"This chat follows {what} already: {which}.")]

    def cmd_unsubscribe(self, ctx: _Context) -> list[Reply]:
        target = None if not ctx.args.strip() else self._target(ctx.args)
        removed = self.store.unsubscribe(ctx.msg.chat_id, target)
        if not removed:
            return [Reply("This chat had no such subscription.")]
        return [Reply("Unsubscribed from everything." if target is None else
                      f"Unsubscribed from {_describe_target(target)}.", edit=ctx.msg.pressed)]

    def cmd_subscriptions(self, ctx: _Context) -> list[Reply]:
        subs = self.store.subscriptions(ctx.msg.chat_id)
        chat = self.store.chat(ctx.msg.chat_id)
        muted = f"\nMuted claims: {', '.join(f'#{n}' for n in chat.muted)} (/unmute &lt;id&gt;)" if chat and chat.muted else ""
        if not subs:
            return [Reply("This chat follows nothing yet. /subscribe all, /subscribe #tag or /subscribe &lt;id&gt;, "
                          f"optionally with the kinds of alert wanted ({', '.join(ALERT_KINDS)})." + muted)]
        lines = [f"• {_describe_target(s.target)}: {', '.join(s.kinds)}" for s in subs]
        buttons = []
        for s in subs:  # a button per kind turns it on or off; a long tag gets none (type the command)
            toggles = []
            for kind in ALERT_KINDS:
                toggled = [k for k in ALERT_KINDS if (k in s.kinds) != (k == kind)]
                command = f"/subscribe {s.target} {' '.join(toggled)}"
                if toggled and len(command.encode()) <= CALLBACK_LIMIT:  # the last kind goes with Unsubscribe
                    toggles.append(Button(("✓ " if kind in s.kinds else "· ") + kind, command))
            buttons.append(tuple(toggles))
            if len(f"/unsubscribe {s.target}".encode()) <= CALLBACK_LIMIT:
                buttons.append((Button(f"Unsubscribe {s.target if s.target != 'all' else 'all claims'}",
                                       f"/unsubscribe {s.target}"),))
        tips = "\nPress a kind to turn it on (✓) or off; /settings sets the digest."
        return [Reply("This chat follows:\n" + "\n".join(lines) + muted + tips, tuple(b for b in buttons if b))]

    def _this_chat(self, ctx: _Context) -> Chat:
        return self.store.chat(ctx.msg.chat_id) or Chat(ctx.msg.chat_id, ctx.msg.chat_type, ctx.msg.chat_title)

    def _mute(self, ctx: _Context, on: bool) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.split()[0] if ctx.args.split() else "")
        if not ledger.set_muted(self.store, self._this_chat(ctx), number, on):
            return [Reply(f"#{number} was not muted here.")]
        if on:
            return [Reply(f"#{number} is muted here: no alerts about it in this chat.",
                          ((Button("Undo", f"/unmute {number}"),),))]
        return [Reply(f"#{number} is no longer muted here.")]

    def cmd_mute(self, ctx: _Context) -> list[Reply]:
        return self._mute(ctx, True)

    def cmd_unmute(self, ctx: _Context) -> list[Reply]:
        return self._mute(ctx, False)

    def cmd_snooze(self, ctx: _Context) -> list[Reply]:
        parts = ctx.args.split()
        if not parts:
            raise InputError("say which claim, and for how many days")
        number = ledger.parse_claim_number(parts[0])
        claim = self.store.get_claim(number)
        if claim.outcome:  # as /forecast: a resolved claim is not reviewed again
            raise InputError(f"#{number} is resolved ({claim.outcome.value.value}); reopen it to review it again")
        start = ledger.snooze_start(claim, ctx.today)
        if len(parts) == 1:
            return [Reply(f"Move the review of #{number} ({esc(render.review(claim, ctx.today))}) on, "
                          f"counting from {_since(start, ctx.today)}, by:",
                          (tuple(Button(f"{label} ({start + timedelta(days=days)})", f"/snooze {number} {days}")
                                 for label, days in SNOOZES),))]
        claim, start = ledger.snooze(self.store, number, parts[1], ctx.who, ctx.now, self.settings.tz, who=ctx.identity)
        return [Reply(f"#{number}: next review {claim.review_date} ({parts[1]} days from {_since(start, ctx.today)}).",
                      edit=ctx.msg.pressed)]

    def cmd_settings(self, ctx: _Context) -> list[Reply]:
        chat = self._this_chat(ctx)
        field_, _, value = ctx.args.strip().partition(" ")
        field_, value = field_.lower(), value.strip()
        if field_ in ledger.TEAM_SETTINGS:  # the team's, not this chat's
            if ctx.role != Role.ADMIN:
                raise InputError(f"{field_} is a team setting: only admins change it")
            value = ledger.set_team_setting(self.store, field_, value)
            return [Reply(f"Team setting {field_}: <b>{value}</b>."
                          + (" Nobody sees the others' forecasts on an open claim before making their own."
                             if value == "until-own" else ""))]
        if field_ == "nudges":
            if value.lower() not in ("on", "off"):
                raise InputError("nudges are on or off")
            chat = replace(chat, nudges=value.lower() == "on")
        elif field_ == "digest":
            if value.lower() not in DIGEST_FREQUENCIES:
                raise InputError(f"the digest is one of {', '.join(DIGEST_FREQUENCIES)}")
            chat = replace(chat, digest=value.lower())
        elif field_ == "time":
            try:
                chat = replace(chat, digest_at=time.fromisoformat(value.zfill(5)).replace(second=0, microsecond=0))
            except ValueError:
                raise InputError(f"{value!r} is not a time of day; give it as HH:MM, e.g. 08:30") from None
        elif field_ in ("tz", "timezone"):
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise InputError(f"{value!r} is not a time zone; use a name such as Europe/Berlin or UTC") from None
            chat = replace(chat, tz=value)
        elif field_:
            raise InputError("settings are digest (off, daily, weekly), time (HH:MM), tz (a zone name) and nudges "
                             "(on, off); admins also set the team's hide-forecasts (off, until-own)")
        if field_:
            self.store.save_chat(chat)
        tz = chat.tz or f"{self.settings.tz.key} (the bot's default)"
        text = (f"Digest: <b>{chat.digest}</b>" + (" (Mondays)" if chat.digest == "weekly" else "")
                + f" at {chat.digest_at:%H:%M}, time zone {esc(tz)}.\n"
                "Change with /settings digest off|daily|weekly, /settings time HH:MM, /settings tz Europe/Berlin.\n"
                f"Weekly nudges (claims due soon you have not forecast, in private): {'on' if chat.nudges else 'off'} "
                "(/settings nudges on|off).\n"
                f"Team: hide-forecasts {ledger.team_setting(self.store, 'hide-forecasts')}, "
                f"public-names {ledger.team_setting(self.store, 'public-names')}"
                + (" (change with /settings hide-forecasts off|until-own, /settings public-names off|on)."
                   if ctx.role == Role.ADMIN else "."))
        return [Reply(text, (tuple(Button(("✓ " if f == chat.digest else "") + f, f"/settings digest {f}")
                                   for f in DIGEST_FREQUENCIES),), edit=ctx.msg.pressed)]

    def cmd_chats(self, ctx: _Context) -> list[Reply]:
        chats = self.store.chats()
        if not chats:
            return [Reply("The bot has not been in any chat yet.")]
        lines = [f"{c.id} {esc(c.title or c.type)}: " + ("active" if c.active else
                 f"<b>inactive</b> since {render.when(c.changed_at, self.settings.tz) if c.changed_at else '?'} "
                 f"({esc(c.reason)}); its subscriptions rest until it writes again") for c in chats]
        return [Reply("Chats:\n" + "\n".join(lines))]

    # --- users -----------------------------------------------------------------------------------

    def cmd_grant(self, ctx: _Context) -> list[Reply]:
        parts = ctx.args.split()
        if len(parts) != 2 or not _USER_ID.fullmatch(parts[0]):
            raise InputError("give a Telegram user id and a role: analyst, admin or subscriber")
        try:
            role = Role(parts[1].lower())
        except ValueError:
            raise InputError(f"{parts[1]!r} is not a role: use analyst, admin or subscriber") from None
        user_id = int(parts[0])
        existing = self.store.user(user_id)
        self.store.set_role(user_id, role, existing.name if existing else "", ctx.who, ctx.now)
        return [Reply(f"User {user_id} is now {_a(role)}.")]

    def cmd_revoke(self, ctx: _Context) -> list[Reply]:
        text = ctx.args.strip()
        if not _USER_ID.fullmatch(text):
            raise InputError("give the Telegram user id whose role to take away")
        user_id = int(text)
        if user_id in self.settings.admins:
            raise InputError(f"user {user_id} is an admin through CLAIMWATCH_ADMINS; change that setting instead")
        if self.store.user(user_id) is None:
            raise InputError(f"user {user_id} has no role")
        self.store.set_role(user_id, None, "", ctx.who, ctx.now)
        return [Reply(f"User {user_id} no longer has a role.")]

    def cmd_users(self, ctx: _Context) -> list[Reply]:
        inactive = {c.id for c in self.store.chats() if not c.active}
        lines = [f"{a} admin (CLAIMWATCH_ADMINS)" for a in sorted(self.settings.admins)]
        lines += [f"{u.id} {esc(u.name) or '—'}: {u.role.value}" + (" (inactive: blocked the bot)" if u.id in inactive else "")
                  for u in self.store.users() if u.id not in self.settings.admins]
        return [Reply("Users:\n" + "\n".join(lines))]


    # --- the web view ------------------------------------------------------------------------------

    def cmd_web(self, ctx: _Context) -> list[Reply]:
        if ctx.msg.chat_type != "private":  # whoever opens it first is signed in as you
            return [Reply("Ask for a sign-in link in a private chat with me: the link signs in whoever opens it.")]
        link = ledger.sign_in_link(self.store, self.settings.web_url, ctx.msg.user_id, ctx.who, ctx.now)
        minutes = int(ledger.SIGN_IN_VALID.total_seconds() // 60)
        where = "" if self.settings.public_url else \
            " (CLAIMWATCH_PUBLIC_URL is not set, so it points at claimwatch serve on this machine)"
        return [Reply(f"Sign in to the web view: {esc(link)}\nIt works once, within {minutes} minutes{where}.")]

    def cmd_share(self, ctx: _Context) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.split()[0] if ctx.args.split() else "")
        token, new = ledger.share(self.store, number, ctx.who, ctx.now, who=ctx.identity)
        names = "with" if ledger.team_setting(self.store, "public-names") == "on" else "without"
        return [Reply(f"#{number} {'is now' if new else 'was already'} public, {names} forecasters' names: "
                      f"{esc(self.settings.web_url)}/p/{token}\n/unshare {number} takes the page away.")]

    def cmd_unshare(self, ctx: _Context) -> list[Reply]:
        number = ledger.parse_claim_number(ctx.args.split()[0] if ctx.args.split() else "")
        ledger.unshare(self.store, number, ctx.who, ctx.now, who=ctx.identity)
        return [Reply(f"#{number} is private again: its public address no longer works.")]


def allowed(role: Role | None, command: str) -> bool:
    """Whether someone with `role` (None: no role) may run a chat command: the one rule, for the chat and the web."""
    needed = COMMANDS[command].role
    return needed is None or (role is not None and role.allows(needed))


def _describe_target(target: str) -> str:
    if target == "all":
        return "all claims"
    return f"claims tagged {esc(target)}" if target.startswith("#") else f"claim #{target}"


COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("start", None, "/start", "", ChatService.cmd_start),
    Command("help", None, "/help", "what you can do here", ChatService.cmd_help),
    Command("list", None, "/list [open|due|resolved|all|#tag|@analyst|words]", "list claims", ChatService.cmd_list),
    Command("show", None, "/show <id>", "a claim with its forecasts, outcome and evidence", ChatService.cmd_show),
    Command("due", None, "/due", "open claims due for review", ChatService.cmd_due),
    Command("history", None, "/history <id>", "who changed what on a claim", ChatService.cmd_history),
    Command("subscribe", None, "/subscribe [<id>|#tag|all] [evidence due outcome digest]", "follow claims in this chat",
            ChatService.cmd_subscribe),
    Command("unsubscribe", None, "/unsubscribe [<id>|#tag|all]", "stop following (everything if none given)",
            ChatService.cmd_unsubscribe),
    Command("subscriptions", None, "/subscriptions", "what this chat follows, and which alerts",
            ChatService.cmd_subscriptions),
    Command("mute", None, "/mute <id>", "no more alerts about a claim here", ChatService.cmd_mute),
    Command("unmute", None, "/unmute <id>", "alerts about a claim again", ChatService.cmd_unmute),
    Command("settings", None, "/settings [digest off|daily|weekly | time HH:MM | tz <zone>]", "this chat's digest",
            ChatService.cmd_settings),
    Command("add", Role.ANALYST, "/add <text> | due <date> | p <probability> | tags <a, b> | watch <t1, t2> | "
            "source <title or url>", "record a claim (alone: step by step)", ChatService.cmd_add),
    Command("forecast", Role.ANALYST, "/forecast <id> <probability|withdraw> [note]", "your forecast",
            ChatService.cmd_forecast),
    Command("resolve", Role.ANALYST, "/resolve <id> <true|false|partial|void> [on YYYY-MM-DD] [note]", "record the outcome",
            ChatService.cmd_resolve),
    Command("snooze", Role.ANALYST, "/snooze <id> [days]", "move a claim's review date on", ChatService.cmd_snooze),
    Command("delete", Role.ANALYST, "/delete <id> [reason]", "delete a claim you recorded (it can be restored)",
            ChatService.cmd_delete),
    Command("restore", Role.ANALYST, "/restore <id>", "bring a deleted claim back", ChatService.cmd_restore),
    Command("reopen", Role.ANALYST, "/reopen <id> [note]", "open a resolved claim again", ChatService.cmd_reopen),
    Command("edit", Role.ANALYST, "/edit <id> <due|p|tags|watch|text|source> <value>", "change a claim",
            ChatService.cmd_edit),
    Command("stats", None, "/stats [#tag|@analyst|source words]", "forecast accuracy, with a calibration chart",
            ChatService.cmd_stats),
    Command("mine", None, "/mine", "your open forecasts, with the team's median", ChatService.cmd_mine),
    Command("todo", None, "/todo", "open claims you have not forecast yet", ChatService.cmd_todo),
    Command("me", None, "/me", "your track record beside the team's", ChatService.cmd_me),
    Command("leaderboard", None, "/leaderboard [#tag]", "analysts by Brier score", ChatService.cmd_leaderboard),
    Command("export", None, "/export [json|csv|claimreview]", "every claim as a file", ChatService.cmd_export),
    Command("evidence", None, "/evidence <id>", "news found for a claim", ChatService.cmd_evidence),
    Command("trywatch", None, "/trywatch <watch terms>", "the recent news some watch terms would find",
            ChatService.cmd_trywatch),
    Command("label", Role.ANALYST, "/label <id> <evidence> <supports|contradicts|irrelevant>",
            "label a news item", ChatService.cmd_label),
    Command("feeds", None, "/feeds", "the news feeds watched, and their health", ChatService.cmd_feeds),
    Command("addfeed", Role.ADMIN, "/addfeed <url> [name]", "watch a news feed", ChatService.cmd_addfeed),
    Command("removefeed", Role.ADMIN, "/removefeed <id>", "stop watching a feed", ChatService.cmd_removefeed),
    Command("cancel", None, "/cancel", "stop a step-by-step /add", ChatService.cmd_cancel),
    Command("examples", Role.ADMIN, "/examples <load|remove>", "the example claims of the source report",
            ChatService.cmd_examples),
    Command("invite", Role.ADMIN, "/invite <analyst|subscriber>", "a one-time invite link", ChatService.cmd_invite),
    Command("grant", Role.ADMIN, "/grant <user id> <analyst|admin|subscriber>", "give a role", ChatService.cmd_grant),
    Command("revoke", Role.ADMIN, "/revoke <user id>", "take a role away", ChatService.cmd_revoke),
    Command("chats", Role.ADMIN, "/chats", "the chats the bot serves, and which cannot be reached", ChatService.cmd_chats),
    Command("users", Role.ADMIN, "/users", "who has which role", ChatService.cmd_users),
    Command("web", Role.SUBSCRIBER, "/web", "a one-time link to sign in to the web view", ChatService.cmd_web),
    Command("share", Role.ANALYST, "/share <id>", "a public page for a claim, readable without signing in",
            ChatService.cmd_share),
    Command("unshare", Role.ANALYST, "/unshare <id>", "take a claim's public page away", ChatService.cmd_unshare),
]}


def menu() -> list[tuple[str, str]]:
    """(command, description) for Telegram's command menu."""
    return [(c.name, c.summary) for c in COMMANDS.values() if c.summary]
