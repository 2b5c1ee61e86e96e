"""What an analyst can do in chat, the command line can do too (and the other way round)."""

from __future__ import annotations

import argparse
from pathlib import Path

from claimwatch.chat import COMMANDS
from claimwatch.cli import build_parser

from conftest import run_cli

# A chat command done on the command line under another name.
CLI_NAME = {"label": "evidence", "addfeed": "feeds", "removefeed": "feeds", "leaderboard": "stats",
            "trywatch": "watch"}
# Chat commands with no command-line twin, and why.
CHAT_ONLY = {
    "start": "a Telegram chat's greeting and invite links",
    "help": "claimwatch --help",
    "cancel": "ends the chat's step-by-step /add; the command line takes a claim in one line",
    "subscribe": "subscriptions belong to a chat; claimwatch console has them for the terminal",
    "unsubscribe": "as subscribe",
    "subscriptions": "as subscribe",
    "settings": "a chat's digest; claimwatch console has it for the terminal",
    "invite": "Telegram roles: the command line acts as its local user",
    "grant": "as invite", "revoke": "as invite", "users": "as invite",
    "chats": "the Telegram chats the bot serves",
    "web": "a sign-in link for the person in chat; claimwatch serve prints the local user's",
}


def cli_commands() -> set[str]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return set(action.choices)


def test_every_chat_command_has_a_command_line_twin_or_a_reason() -> None:
    cli = cli_commands()
    missing = [name for name in COMMANDS if name not in CHAT_ONLY and CLI_NAME.get(name, name) not in cli]
    assert missing == [], f"chat commands without a command-line twin: {missing}"
    assert set(CHAT_ONLY) <= set(COMMANDS)  # no reason kept for a command that is gone


def test_edit_snooze_and_mute_on_the_command_line(tmp_path: Path, data: Path | str) -> None:
    assert run_cli("edit", "1", "due", "2027-03-01", data=data).stdout == "#1 updated: due (now 2027-03-01)\n"
    assert run_cli("edit", "1", "p", "1.5", data=data).stdout == "#1 updated: p (now 1.5%)\n"  # as read: a percentage
    assert run_cli("edit", "1", "p", "0.15", data=data).stdout == "#1 updated: p (now 15%)\n"
    snoozed = run_cli("snooze", "1", "7", data=data)
    assert snoozed.stdout == "#1: next review 2027-03-08 (7 days from its review date, 2027-03-01)\n"
    assert run_cli("show", "1", "--json", data=data).stdout.count('"review_date": "2027-03-08"') == 1
    assert "from 1 to 3660" in run_cli("snooze", "1", "0", data=data).stderr
    assert run_cli("edit", "1", "tags", "energy,", "gas", data=data).returncode == 0
    assert '"tags": [\n    "energy",\n    "gas"\n  ]' in run_cli("show", "1", "--json", data=data).stdout
    bad = run_cli("edit", "1", "colour", "red", data=data)
    assert bad.returncode == 2 and "'colour' cannot be edited" in bad.stderr
    assert "#1 is muted" in run_cli("mute", "1", data=data).stdout
    assert "no longer muted" in run_cli("unmute", "1", data=data).stdout
    again = run_cli("unmute", "1", data=data)
    assert again.returncode == 2 and "was not muted" in again.stderr
