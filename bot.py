"""Runs the claimwatch Telegram bot: `python bot.py` (the same as `claimwatch run`)."""

from claimwatch.telegram_bot import main

if __name__ == "__main__":
    raise SystemExit(main())
