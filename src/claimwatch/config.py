"""Configuration from the environment (a `.env` file in the working directory is read first)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import load_dotenv

from claimwatch.errors import ConfigError


@dataclass(frozen=True)
class Config:
    data_dir: Path
    tz: ZoneInfo
    user: str  # who the CLI acts as, for the audit trail


def read_env_file(path: str = ".env") -> None:
    """Load `.env` if present; variables already set win."""
    if os.path.isfile(path):
        load_dotenv(path, override=False)


def load_config(env: Mapping[str, str] = os.environ) -> Config:
    tz_name = env.get("CLAIMWATCH_TZ", "").strip() or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"CLAIMWATCH_TZ={tz_name!r} is not a time zone; use a name such as UTC or Europe/Stockholm") from None
    return Config(
        data_dir=Path(env.get("CLAIMWATCH_DATA", "").strip() or "claimwatch-data"),
        tz=tz,
        user=env.get("CLAIMWATCH_USER", "").strip() or _login_name(),
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
