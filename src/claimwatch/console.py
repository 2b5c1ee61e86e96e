"""The console chat: the chat commands for a local user with the admin role, no token needed.

Reads commands from standard input until its end, so `claimwatch console < session.txt` works.
Buttons are shown as numbered choices; typing the number presses the button.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from claimwatch.chat import Button, ChatService, Incoming, Reply
from claimwatch.model import CONSOLE_CHAT
from claimwatch.render import html_to_plain

CONSOLE_USER_ID = CONSOLE_CHAT  # the console's user and chat


def render_replies(replies: list[Reply], folder: Path) -> tuple[str, list[Button]]:
    """Replies as text, their buttons numbered on from 1 across all of them; attachments saved in `folder`."""
    blocks: list[str] = []
    buttons: list[Button] = []
    for reply in replies:
        text = html_to_plain(reply.text)
        if reply.attachment:
            path = folder / reply.attachment.filename
            path.write_bytes(reply.attachment.content)
            text += f"\n(saved {path})"
        row_texts = []
        for row in reply.buttons:
            row_texts.append("  ".join(f"[{len(buttons) + i}] {b.label}" for i, b in enumerate(row, 1)))
            buttons += row
        blocks.append("\n".join([text, *row_texts]))
    return "\n\n".join(blocks), buttons


def run_console(service: ChatService, user_name: str, clock: Callable[[], datetime],
                stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, folder: Path = Path(".")) -> int:
    """Serve commands until the input ends; charts and exports are saved in `folder`."""
    interactive = stdin.isatty()
    if interactive:
        print("claimwatch console: type /help, a number to press a button, Ctrl-D to leave.", file=stdout)
    buttons: list[Button] = []
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text or text.startswith("#!"):
            continue
        pressed = text.isdecimal() and 1 <= int(text) <= len(buttons)
        incoming = Incoming(CONSOLE_USER_ID, CONSOLE_USER_ID, buttons[int(text) - 1].command if pressed else text,
                            user_name, "private", pressed=pressed)
        now = clock()
        service.seen(incoming, now)  # the console chat is reachable: alerts for it are kept for `claimwatch watch`
        output, buttons = render_replies(service.handle(incoming, now), folder)
        if output:
            print(output, file=stdout, flush=True)
    return 0
