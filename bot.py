"""Runs the claimwatch Telegram bot.

The bot is not built yet (it comes with the Telegram bot issue); until then this says so and
points to the command line, which works on the same data directory.
"""

import sys

if __name__ == "__main__":
    print("claimwatch: the Telegram bot is not part of this version yet; use the `claimwatch` command "
          "line (claimwatch --help)", file=sys.stderr)
    sys.exit(2)
