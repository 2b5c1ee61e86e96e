"""`claimwatch doctor`: whether this installation can run, one check a line.

Each check is a function returning a Finding (its name, ok or not, and what was found or what to do); diagnose()
runs them in order. Checks change nothing a user can see: the store check makes a write in a transaction and
takes it back (rolls it back), and in a data directory writes a temporary file that never has a name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from claimwatch import polling, render
from claimwatch.config import Config, load_config, read_env_file
from claimwatch.errors import ClaimwatchError, StoreError
from claimwatch.model import parse_datetime
from claimwatch.store import Store, open_store

BACKLOG_AGE = timedelta(hours=1)  # a pending alert older than this: nothing is sending (the bot sends every 2 s)
BACKLOG_SIZE = 10_000  # more pending than this: sending cannot keep up (Telegram allows 30 messages a second)


class _RolledBack(Exception):
    """Ends the store check's transaction, taking its test write back."""


class Finding(NamedTuple):
    """One check's result: `message` says what was found, and for a problem what to do."""

    name: str
    ok: bool
    message: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'problem':<8} {self.name}: {self.message}"


def check_config(env: Mapping[str, str], env_file: str | None) -> tuple[Finding, Config | None]:
    """The environment (and `.env`) as every command reads it."""
    try:
        if env_file is not None:
            read_env_file(env_file)
        config = load_config(env)
    except ClaimwatchError as e:
        return Finding("configuration", False, f"{e}"), None
    return Finding("configuration", True, f"data in {config.shown_location}, times in {config.tz.key}, "
                                          f"{render.count(len(config.admins), 'admin')}"), config


def check_store(config: Config) -> tuple[Finding, Store | None]:
    """The store: it opens (schema), every claim reads, and a write can be made (inside a transaction that is then
    rolled back: the writers' lock is taken, the write checked and nothing kept); in a data directory a file can be
    written too."""
    where = config.shown_location
    if config.new_data_dir():
        return Finding("store", True, f"no data directory at {where} yet: the bot or the first command that "
                                      "writes makes it (claimwatch examples load adds the example claims)"), None
    try:
        store = open_store(config.location)  # an older schema is upgraded here, as by any command, with a backup
        upgraded = f" (upgraded just now; the old files are in {store.migrated_backup})" if store.migrated_backup else ""
        claims = len(store.find_claims())
        try:
            with store.transaction():  # a write made and taken back: the store's own rollback
                store.save_team_setting("doctor-check", "a write that is rolled back")
                if config.database is None:
                    with tempfile.TemporaryFile(dir=config.data_dir, prefix=".doctor-"):
                        pass  # a file written in the data directory, and gone with no name left behind
                raise _RolledBack
        except _RolledBack:
            pass
        if "doctor-check" in store.team_settings():
            return Finding("store", False, f"{where}: a write that was rolled back is still there: the store does "
                                           "not keep its transactions; report this as a bug"), None
    except StoreError as e:
        return Finding("store", False, f"{e}"), None
    except OSError as e:
        return Finding("store", False, f"cannot write in {where} ({e.strerror}): commands that change data and "
                                       "the bot need write access to it"), None
    return Finding("store", True, f"{where}: schema {store.schema_version}{upgraded}, "
                                  f"{render.count(claims, 'claim')}, writable"), store


def check_token(config: Config) -> Finding:
    """The bot token, asked of the Bot API (getMe), and how updates reach the bot."""
    if not config.token:
        return Finding("token", False, "no TELEGRAM_BOT_TOKEN: the bot cannot run (the command line and claimwatch "
                                       "console work without one); get a token from @BotFather")
    from claimwatch.telegram_bot import bot_identity  # telegram loads only for this check

    try:
        return Finding("token", True, bot_identity(config))
    except ClaimwatchError as e:
        return Finding("token", False, f"{e}")


def check_feeds(store: Store) -> Finding:
    """Feeds the watcher stopped (disabled) or that keep failing."""
    try:
        feeds = store.feeds()
    except StoreError as e:
        return Finding("feeds", False, f"{e}")
    disabled = [f"{f.name} ({f.disabled_reason})" for f in feeds if not f.enabled]
    failing = [f"{f.name} ({f.failures}x: {f.error})" for f in feeds if f.enabled and f.failures >= polling.NOTIFY_AFTER]
    if not disabled and not failing:
        return Finding("feeds", True, f"{render.count(len(feeds), 'feed')}, none failing")
    said = [f"{len(disabled)} disabled: {'; '.join(disabled)}"] * bool(disabled)
    said += [f"{len(failing)} failing: {'; '.join(failing)}"] * bool(failing)
    return Finding("feeds", False, f"{render.count(len(feeds), 'feed')}, {', '.join(said)}: check the address "
                                   "(claimwatch feeds list), then remove the feed or add it again")


def check_outbox(store: Store, now: datetime, max_age: timedelta = BACKLOG_AGE, max_size: int = BACKLOG_SIZE) -> Finding:
    """Alerts waiting to be sent: how many, and for how long the oldest has waited."""
    try:
        pending = store.outbox("pending")
        oldest = min((parse_datetime(m["created"]) for m in pending), default=None)
    except (StoreError, KeyError, TypeError, ValueError) as e:
        return Finding("outbox", False, f"{e}")
    if oldest is None:
        return Finding("outbox", True, "no alerts waiting")
    waited = now - oldest
    said = f"{render.count(len(pending), 'alert')} waiting, the oldest for {_duration(waited)}"
    if waited > max_age or len(pending) > max_size:
        errors = sorted({m["error"] for m in pending if m.get("error")})
        why = f" (last errors: {'; '.join(errors[:3])})" if errors else ""
        return Finding("outbox", False, f"{said}{why}: is the bot running (claimwatch run)? Its log says why "
                                        "sending fails")
    return Finding("outbox", True, said)


def _duration(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    if minutes < 120:
        return render.count(minutes, "minute")
    if minutes < 48 * 60:
        return render.count(minutes // 60, "hour")
    return render.count(minutes // (24 * 60), "day")


def diagnose(now: datetime, env: Mapping[str, str] = os.environ, env_file: str | None = ".env") -> list[Finding]:
    """Every check, in order; those that need the configuration or the store are left out without it."""
    found, config = check_config(env, env_file)
    findings = [found]
    if config is None:
        return findings
    found, store = check_store(config)
    findings += [found, check_token(config)]
    if store is not None:
        findings += [check_feeds(store), check_outbox(store, now)]
    return findings
