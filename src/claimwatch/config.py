"""Configuration from the environment (a `.env` file in the working directory is read first)."""

from __future__ import annotations

import getpass
import io
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv
from platformdirs import user_data_dir

from claimwatch.errors import ConfigError, InputError
from claimwatch.parsing import parse_name


LOG_LEVELS = ("debug", "info", "warning", "error")
OFFICIAL_API = "https://api.telegram.org"
DEFAULT_LISTEN = "127.0.0.1:8080"  # where `claimwatch serve` listens unless told otherwise


@dataclass(frozen=True)
class Config:
    data_dir: Path
    tz: ZoneInfo
    user: str  # who the CLI acts as, for the audit trail
    token: str = field(default="", repr=False)  # never shown
    api_url: str = OFFICIAL_API
    admins: frozenset[int] = frozenset()
    access: str = "invite"
    poll_seconds: int = 600  # how often a healthy feed is checked
    allow_private_feeds: bool = False  # feeds on loopback or private addresses (tests, intranets)
    remind_at: time = time(9, 0)  # local time (CLAIMWATCH_TZ) of the daily review reminders
    log_level: str = "info"  # how much the bot logs: debug, info (claimwatch's own lines), warning or error
    database: str | None = field(default=None, repr=False)  # CLAIMWATCH_DATA when it is postgresql://…: the store
    webhook_secret: str = field(default="", repr=False)  # what Telegram sends with each webhook call; never shown
    public_url: str = ""  # where people reach `claimwatch serve` (https://claims.example.org); "" when not set

    @property
    def location(self) -> Path | str:
        """Where the store is: the PostgreSQL database, else the data directory."""
        return self.database or self.data_dir

    @property
    def shown_location(self) -> str:
        """The store's location as it may be shown: a database address without its password."""
        return re.sub(r"^(\w+://[^:/@]*):[^@]*@", r"\1@", str(self.location))

    def new_data_dir(self) -> bool:
        """The data directory does not exist yet (a database is never new: its schema is made as it opens)."""
        return self.database is None and not self.data_dir.exists()


def web_url(public_url: str) -> str:
    """Where links to the web view point: CLAIMWATCH_PUBLIC_URL, else `claimwatch serve` on this machine."""
    return public_url or f"http://{DEFAULT_LISTEN}"


def is_database(location: str | Path) -> bool:
    """A store location that is a PostgreSQL database (postgresql://…), not a data directory."""
    return str(location).startswith(("postgresql://", "postgres://"))


def default_data_dir() -> Path:
    """Where the data lives without CLAIMWATCH_DATA: the platform's user data directory (~/.local/share/claimwatch
    on Linux), the same wherever a command runs, so no folder gets a ledger of its own by accident."""
    return Path(user_data_dir("claimwatch", appauthor=False))


def in_data_dir(path: Path, data_dir: Path) -> bool:
    """Whether `path` lies in the data directory, where a file written could replace a data file."""
    return path.resolve().is_relative_to(data_dir.resolve())


def read_env_file(path: str = ".env") -> None:
    """Load `.env` if present; variables already set win. A file that is not UTF-8 text stops with one line."""
    if not os.path.isfile(path):
        return
    try:
        with open(path, "rb") as f:
            body = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror}") from None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: byte {e.start + 1} (0x{body[e.start]:02x}) is not UTF-8 text; "
                          "save the file as UTF-8") from None
    line = next((n for n, chars in enumerate(text.splitlines(), 1) if "\0" in chars), 0)
    if line:
        raise ConfigError(f"{path}: line {line} holds a NUL byte, which no setting can hold; remove it")
    load_dotenv(stream=io.StringIO(text), override=False)


def load_config(env: Mapping[str, str] = os.environ) -> Config:
    tz_name = env.get("CLAIMWATCH_TZ", "").strip() or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"CLAIMWATCH_TZ={tz_name!r} is not a time zone; use a name such as UTC or Europe/Stockholm") from None
    access = env.get("CLAIMWATCH_ACCESS", "").strip().lower() or "invite"
    if access not in ("invite", "open"):
        raise ConfigError(f"CLAIMWATCH_ACCESS={access!r}: use invite (only people with a role) or open (anyone may read)")
    api_url = env.get("TELEGRAM_API_URL", "").strip().rstrip("/") or OFFICIAL_API
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError(f"TELEGRAM_API_URL={api_url!r} is not an http(s) URL")
    poll = env.get("CLAIMWATCH_POLL_SECONDS", "").strip() or "600"
    if not poll.isdecimal() or not 60 <= int(poll) <= 86_400:
        raise ConfigError(f"CLAIMWATCH_POLL_SECONDS={poll!r}: give a number of seconds from 60 to 86400")
    private = env.get("CLAIMWATCH_ALLOW_PRIVATE_FEEDS", "").strip().lower()
    if private not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"CLAIMWATCH_ALLOW_PRIVATE_FEEDS={private!r}: use 1 or 0")
    remind = env.get("CLAIMWATCH_REMIND_AT", "").strip() or "09:00"
    try:
        remind_at = time.fromisoformat(remind.zfill(5))
    except ValueError:
        raise ConfigError(f"CLAIMWATCH_REMIND_AT={remind!r}: give a time of day as HH:MM, e.g. 09:00") from None
    log_level = env.get("CLAIMWATCH_LOG_LEVEL", "").strip().lower() or "info"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"CLAIMWATCH_LOG_LEVEL={log_level!r}: use {', '.join(LOG_LEVELS)}")
    public_url = env.get("CLAIMWATCH_PUBLIC_URL", "").strip().rstrip("/")
    if public_url and (not public_url.startswith(("http://", "https://")) or any(c in public_url for c in " ?#")):
        raise ConfigError(f"CLAIMWATCH_PUBLIC_URL={public_url!r}: give the web view's address, e.g. "
                          "https://claims.example.org")
    secret = env.get("CLAIMWATCH_WEBHOOK_SECRET", "").strip()
    if secret and not _SECRET.fullmatch(secret):  # the value itself is not shown: it is a secret
        raise ConfigError("CLAIMWATCH_WEBHOOK_SECRET: use 1 to 256 characters of A-Z, a-z, 0-9, _ and - "
                          "(Telegram's rule), e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    data = env.get("CLAIMWATCH_DATA", "").strip()
    database = data if is_database(data) else None
    return Config(
        data_dir=default_data_dir() if database else Path(data or default_data_dir()),
        database=database,
        tz=tz,
        user=_user(env.get("CLAIMWATCH_USER", "")),
        token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
        api_url=api_url,
        admins=_admins(env.get("CLAIMWATCH_ADMINS", "")),
        access=access,
        poll_seconds=int(poll),
        allow_private_feeds=private in ("1", "true", "yes"),
        remind_at=remind_at,
        log_level=log_level,
        webhook_secret=secret,
        public_url=public_url,
    )


_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_LISTEN = "127.0.0.1:8080"  # behind a reverse proxy that terminates TLS, the usual set-up
WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram's own servers post webhooks to


@dataclass(frozen=True)
class Webhook:
    """Webhook mode: Telegram posts each update to `url`; the bot's own HTTP server takes it on host:port at
    `path` (the URL's path: a reverse proxy passes it on unchanged)."""

    url: str
    host: str
    port: int
    path: str
    secret: str = field(repr=False)
    secret_made: bool = False  # no CLAIMWATCH_WEBHOOK_SECRET was set: this one was made for this run


def webhook(url: str, listen: str | None, config: Config, make_secret: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> Webhook:
    """`run --webhook URL --listen ADDR:PORT`, checked; the secret is CLAIMWATCH_WEBHOOK_SECRET's, else a new one."""
    parts = urlsplit(url.strip())
    official = config.api_url == OFFICIAL_API
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"--webhook {url!r} is not an https URL such as https://bot.example.org/claimwatch")
    if parts.scheme == "http" and official:  # a self-hosted Bot API server (TELEGRAM_API_URL) may post to http
        raise ConfigError(f"--webhook {url!r}: Telegram posts updates only to https URLs")
    try:
        url_port = parts.port
    except ValueError:
        raise ConfigError(f"--webhook {url!r}: the port is not a number from 1 to 65535") from None
    if official and url_port is not None and url_port not in WEBHOOK_PORTS:
        raise ConfigError(f"--webhook {url!r}: Telegram posts only to ports {', '.join(map(str, WEBHOOK_PORTS))}")
    if parts.query or parts.fragment:
        raise ConfigError(f"--webhook {url!r}: give a URL without ?query or #fragment; the path alone routes updates")
    host, port = _listen_address(listen or DEFAULT_LISTEN)
    secret = config.webhook_secret or make_secret()
    return Webhook(url.strip(), host, port, parts.path or "/", secret, secret_made=not config.webhook_secret)


def _listen_address(text: str) -> tuple[str, int]:
    """ADDR:PORT, [IPv6]:PORT or :PORT (every address) as (host, port)."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]*):(\d{1,5})", text.strip())
    if match is None or not 0 < int(match[2]) < 65536:
        raise ConfigError(f"--listen {text!r}: give an address and port such as 127.0.0.1:8080, 0.0.0.0:8443 or [::]:8443")
    return match[1].strip("[]") or "0.0.0.0", int(match[2])


def _admins(text: str) -> frozenset[int]:
    ids = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    bad = [part for part in ids if not part.lstrip("-").isdecimal()]
    if bad:
        raise ConfigError(f"CLAIMWATCH_ADMINS: {bad[0]!r} is not a Telegram user id; give numbers separated by commas")
    return frozenset(int(part) for part in ids)


def _user(text: str) -> str:
    if not text.strip():
        return _login_name()
    try:
        return parse_name(text, "the name")
    except InputError as e:
        raise ConfigError(f"CLAIMWATCH_USER: {e}") from None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
