"""Runs the claimwatch Telegram bot: `python bot.py [--webhook URL --listen ADDR:PORT]` (the same as `claimwatch run`)."""

import sys

from claimwatch.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["run", *sys.argv[1:]]))
