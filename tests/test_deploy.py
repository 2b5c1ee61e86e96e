"""The deployment files in deploy/ name commands, options and settings that exist."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml

from claimwatch.cli import parse_args

from conftest import ROOT

DEPLOY = ROOT / "deploy"
SETTINGS = set(re.findall(r'env\.get\("([A-Z_]+)"', (ROOT / "src/claimwatch/config.py").read_text("utf-8")))


def claimwatch_args(command: list[str]) -> list[str]:
    """The arguments after the claimwatch executable, parsed as the CLI would (a bad one exits 2)."""
    try:
        args = parse_args(command)
    except SystemExit as e:
        raise AssertionError(f"claimwatch {shlex.join(command)} does not parse (exit {e.code})") from None
    return [args.command]


def test_compose_runs_postgresql_one_bot_and_two_watchers() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    runs = {name: claimwatch_args(s["command"]) for name, s in services.items() if name != "db"}
    assert sorted(runs.values()) == [["run"], ["watch"], ["watch"]]
    for name in runs:
        service = services[name]
        assert service["environment"]["CLAIMWATCH_DATA"] == "postgresql://claimwatch@db/claimwatch"
        assert set(service["environment"]) <= SETTINGS and "db" in service["depends_on"]
    db = services["db"]["environment"]
    assert (db["POSTGRES_USER"], db["POSTGRES_DB"]) == ("claimwatch", "claimwatch") and "ports" not in services["db"]
    build = services["bot"]["build"]
    dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile.is_file()
    copied = [word for line in dockerfile.read_text("utf-8").splitlines() if line.startswith("COPY ")
              for word in line.split()[1:-1]]
    assert copied and all((dockerfile.parents[1] / path).exists() for path in copied)
    assert '".[postgresql]"' in dockerfile.read_text("utf-8")  # the extra CLAIMWATCH_DATA=postgresql://… needs


def test_systemd_unit_runs_the_bot_with_settings_that_exist() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string((DEPLOY / "claimwatch.service").read_text("utf-8"))
    service = unit["Service"]
    executable, *words = shlex.split(service["ExecStart"])
    assert Path(executable).name == "claimwatch" and claimwatch_args(words) == ["run"]
    name, _, value = service["Environment"].partition("=")
    assert name in SETTINGS and value == f"/var/lib/{service['StateDirectory']}"
    assert service["RestartPreventExitStatus"] == "2"  # what a bad setting exits with: a restart cannot fix it
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("command", [["run", "--webhook"], ["wtach"]])
def test_a_command_the_cli_does_not_know_fails_the_check(command: list[str]) -> None:
    with pytest.raises(AssertionError, match="does not parse"):
        claimwatch_args(command)
