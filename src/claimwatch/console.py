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

from claimwatch.chat import Attachment, Button, ChatService, Incoming, Reply
from claimwatch.config import in_data_dir
from claimwatch.model import CONSOLE_CHAT
from claimwatch.parsing import lone_surrogate
from claimwatch.render import html_to_plain

CONSOLE_USER_ID = CONSOLE_CHAT  # the console's user and chat


def save_attachment(attachment: Attachment, folder: Path, data_dir: Path | None = None) -> str:
    """Save a chart or export in `folder` under a name no file has yet (calibration-2.png when calibration.png
    exists), never in the data directory; what happened, in parentheses."""
    if data_dir is not None and in_data_dir(folder, data_dir):
        return f"(not saved: {folder} is in the data directory {data_dir}; run the console from another folder)"
    stem, dot, extension = attachment.filename.partition(".")
    for n in range(1, 1000):
        path = folder / (attachment.filename if n == 1 else f"{stem}-{n}{dot}{extension}")
        try:
            with path.open("xb") as f:  # x: never over an existing file
                f.write(attachment.content)
            return f"(saved {path})"
        except FileExistsError:
            continue
        except OSError as e:
            return f"(not saved: cannot write {path}: {e.strerror})"
    return f"(not saved: {folder} has {attachment.filename} and 998 numbered copies already)"


def render_replies(replies: list[Reply], folder: Path, data_dir: Path | None = None) -> tuple[str, list[Button]]:
    """Replies as text, their buttons numbered on from 1 across all of them; attachments saved in `folder`
    (see save_attachment)."""
    blocks: list[str] = []
    buttons: list[Button] = []
    for reply in replies:
        text = html_to_plain(reply.text)
        if reply.attachment:
            text += "\n" + save_attachment(reply.attachment, folder, data_dir)
        row_texts = []
        for row in reply.buttons:
            links = [b for b in row if b.url]  # a web address to open, not a choice to type
            row = tuple(b for b in row if not b.url)
            row_texts += [text for text in ["  ".join(f"[{len(buttons) + i}] {b.label}" for i, b in enumerate(row, 1)),
                                            *(f"{b.label}: {b.url}" for b in links)] if text]
            buttons += row
        blocks.append("\n".join([text, *row_texts]))
    return "\n\n".join(blocks), buttons


def run_console(service: ChatService, user_name: str, clock: Callable[[], datetime],
                stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, folder: Path = Path("."),
                data_dir: Path | None = None) -> int:
    """Serve commands until the input ends; charts and exports are saved in `folder`, never over a file and
    never in `data_dir`."""
    interactive = stdin.isatty()
    if interactive:
        print("claimwatch console: type /help, a number to press a button, /quit or Ctrl-D to leave.", file=stdout)
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
        if lone_surrogate(text):  # bytes that are not UTF-8
            print(f"⚠️ that line is not valid UTF-8 text ({lone_surrogate(text)}); nothing was done", file=stdout)
            continue
        if text.lower() in ("/quit", "/exit"):
            break
        pressed = text.isdecimal() and 1 <= int(text) <= len(buttons)
        incoming = Incoming(CONSOLE_USER_ID, CONSOLE_USER_ID, buttons[int(text) - 1].command if pressed else text,
                            user_name, "private", pressed=pressed)
        now = clock()
        service.seen(incoming, now)  # the console chat is reachable: alerts for it are kept for `claimwatch watch`
        output, buttons = render_replies(service.handle(incoming, now), folder, data_dir)
        if output:  # a blank line after each answer, so one answer does not run into the next
            print(output + "\n", file=stdout, flush=True)
    return 0
