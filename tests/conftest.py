from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from claimwatch.store import Store, open_store

os.environ.setdefault("PTB_TIMEDELTA", "true")  # as the bot's main() does: no deprecation warning per 429

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday
UTC_TZ = ZoneInfo("UTC")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A new store on each backend: in memory and in a real data directory."""
    return open_store(None if request.param == "memory" else tmp_path / "data")


def run_cli(*args: str, data: Path, env: dict[str, str] | None = None, input: str | None = None,
            cwd: Path | None = None, prefix: tuple[str, ...] = (), examples: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m claimwatch ARGS` in a subprocess, as a user would run it (under `prefix`, a command such
    as setpriv, if given). With `examples`, a data directory that does not exist yet is first given the example
    claims, as the README's first command does (`claimwatch examples load`)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    full_env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PYTHONIOENCODING": "utf-8"}
    full_env |= env or {}

    def run(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, sys.executable, "-m", "claimwatch", *words], capture_output=True, text=True,
                              env=full_env, input=input, cwd=cwd or data.parent, timeout=120)
    if examples and not data.exists():
        assert run("examples", "load").returncode == 0
    return run(*args)
