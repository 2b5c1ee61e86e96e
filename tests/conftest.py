from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from claimwatch.config import Config
from claimwatch.store import FileBackend, Store, open_store

os.environ.setdefault("PTB_TIMEDELTA", "true")  # as the bot's main() does: no deprecation warning per 429

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday
UTC_TZ = ZoneInfo("UTC")
ROOT = Path(__file__).resolve().parents[1]


POSTGRES_SERVER = os.environ.get("CLAIMWATCH_TEST_POSTGRES", "postgresql://127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of this run's own on the PostgreSQL server, dropped at the end. Without a server the
    PostgreSQL runs are skipped, saying why in one line; under CI=true they fail."""
    from claimwatch.errors import StoreError
    from claimwatch.pgstore import create_database, drop_database
    name = f"claimwatch_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        location = create_database(POSTGRES_SERVER, name)
    except StoreError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the PostgreSQL server at {POSTGRES_SERVER}: {e}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_SERVER} ({e}); set CLAIMWATCH_TEST_POSTGRES to run them")
    yield location
    drop_database(POSTGRES_SERVER, name)


_schemas = itertools.count(1)


def postgres_location(database: str) -> str:
    """A new, empty store in the run's database: a schema of its own."""
    return f"{database}{'&' if '?' in database else '?'}options=-csearch_path%3Dt{next(_schemas)}"


@pytest.fixture(params=["file", "postgresql"])
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a store lives, on each kind of store: a data directory not made yet, or a new PostgreSQL schema."""
    if request.param == "file":
        return tmp_path / "data"
    return postgres_location(request.getfixturevalue("postgres_database"))


@pytest.fixture(params=["memory", "file", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new store on each backend: in memory, in a real data directory and in a PostgreSQL database; closed after
    the test (its own connections, such as a held role's, go back to the server)."""
    if request.param == "postgresql":
        made = open_store(postgres_location(request.getfixturevalue("postgres_database")))
    else:
        made = open_store(None if request.param == "memory" else tmp_path / "data")
    yield made
    made.close()


def cwd_of(data: Path | str) -> Path:
    """The folder a command on `data` runs in: beside a data directory; for a database, a folder of its own."""
    if isinstance(data, Path):
        return data.parent
    folder = Path(tempfile.gettempdir()) / f"claimwatch-cwd-{hashlib.sha256(data.encode()).hexdigest()[:16]}"
    folder.mkdir(exist_ok=True)
    return folder


def files_of(data: Path | str) -> Path:
    """The data directory of a test about its files (skipped on a database, which has none)."""
    if not isinstance(data, Path):
        pytest.skip("about the files of a data directory")
    return data


def store_config(data: Path | str, *args: Any, **fields: Any) -> Config:
    """The configuration of a store at `data` (Config's other fields as given)."""
    if isinstance(data, Path):
        return Config(data, *args, **fields)
    return Config(cwd_of(data) / "data", *args, database=data, **fields)


def run_cli(*args: str, data: Path | str, env: dict[str, str] | None = None, input: str | None = None,
            cwd: Path | None = None, prefix: tuple[str, ...] = (), examples: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m claimwatch ARGS` in a subprocess, as a user would run it (under `prefix`, a command such
    as setpriv, if given), on the data directory or database `data`. With `examples`, a data directory that
    does not exist yet (a database that holds nothing yet) is first given the example claims, as the README's
    first command does (`claimwatch examples load`)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    full_env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PYTHONIOENCODING": "utf-8"}
    full_env |= env or {}

    def run(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, sys.executable, "-m", "claimwatch", *words], capture_output=True, text=True,
                              env=full_env, input=input, cwd=cwd or cwd_of(data),
                              timeout=120)
    if examples and (not data.exists() if isinstance(data, Path) else open_store(data).is_empty()):
        assert run("examples", "load").returncode == 0
    return run(*args)


class CountingBackend(FileBackend):
    """A data directory that counts how often each file is read whole."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: dict[str, int] = {}

    def read(self, name: str):
        self.reads[name] = self.reads.get(name, 0) + 1
        return super().read(name)
