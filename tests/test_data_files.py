"""What is in a data directory: only exact file names are data, and a document of the wrong shape or type is
the named file's one-line error in every command, never a traceback."""

from __future__ import annotations

import shutil
from datetime import timedelta
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from claimwatch import ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.model import OutcomeValue
from claimwatch.store import is_data_name, open_store
from conftest import NOW, UTC_TZ, run_cli


def make_data(data: Path) -> None:
    store = open_store(data)
    claim = ledger.add_claim(store, ledger.NewClaim(text="China attends the summit", tags=("china",)), "ana", NOW)
    ledger.add_forecast(store, claim.id, 0.3, "ana", NOW - timedelta(days=1))
    ledger.resolve(store, claim.id, OutcomeValue.FALSE, "ana", NOW)
    ledger.add_claim(store, ledger.NewClaim(text="Pipeline deal signed"), "ana", NOW)


@pytest.mark.parametrize("stray", ["claims-0000 (copy).json", "claims-0000-old.json", "claims-00000.json",
                                   "claims-x.json", "People.json"])
def test_a_copy_of_a_data_file_is_ignored_with_one_warning(tmp_path: Path, stray: str) -> None:
    data = tmp_path / "data"
    make_data(data)
    exported = orjson.loads(run_cli("export", data=data).stdout)["claims"]
    shutil.copy(data / "claims-0000.json", data / stray)
    listed = run_cli("list", "all", data=data)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert listed.stdout.count("China attends the summit") == 1  # not listed twice
    assert [line for line in listed.stderr.splitlines() if stray in line] == [
        f"{data / stray} is not a claimwatch data file name; it is ignored"]
    assert orjson.loads(run_cli("export", data=data).stdout)["claims"] == exported  # every claim once


def test_data_file_names_are_exact() -> None:
    assert all(map(is_data_name, ["meta", "people", "feeds", "seen", "outbox", "claims-0000", "evidence-0012",
                                  "claims-12345", "outbox-000", "outbox-255"]))
    assert not any(map(is_data_name, ["claims-0000 (copy)", "claims-0000-old", "claims-000", "claims-00001",
                                      "evidence-x", "claims--001", "backup", "outbox-256", "outbox-01", "", 5]))


Mutation = Callable[[dict[str, Any]], None]
WRONG: dict[str, Mutation] = {
    "p is a word": lambda c: c.update(p="x"),
    "tags is null": lambda c: c.update(tags=None),
    "text is null": lambda c: c.update(text=None),
    "a forecast's p is a word": lambda c: c["forecasts"][0].update(p="x"),
    "an outcome without a value": lambda c: c.update(outcome={"result": "maybe"}),
    "an outcome at no time": lambda c: c["outcome"].update(at="soon"),
    "source is a list": lambda c: c.update(source=[]),
    "review date is a number": lambda c: c.update(review_date=5),
    "who recorded it is a number": lambda c: c.update(created_who=5),
    "who resolved it is a list": lambda c: c["outcome"].update(who=["tg:5"]),
    "who forecast is a list": lambda c: c["forecasts"][0].update(who=["tg:5"]),
    "kind is a list": lambda c: c.update(kind=["claim"]),
    # what a list line does not show, but claim_from_dict reads (a listing shows claims without making them)
    "kind is no kind": lambda c: c.update(kind="opinion"),
    "a forecast withdrawn at no time": lambda c: c["forecasts"][0].update(withdrawn="soon"),
    "published on no day": lambda c: c["source"].update(published="someday"),
}
COMMANDS = [["list", "all"], ["show", "1"], ["history", "1"], ["stats"], ["report", "-o", "r.html"],
            ["export"], ["export", "--format", "claimreview"], ["forecast", "2", "40%"], ["add", "new one"]]


@pytest.mark.parametrize("wrong", WRONG)
def test_a_claim_of_the_wrong_type_is_one_line_naming_the_file_in_every_command_that_reads_it(
        tmp_path: Path, wrong: str) -> None:
    data = tmp_path / "data"
    make_data(data)
    path = data / "claims-0000.json"
    doc = orjson.loads(path.read_bytes())
    WRONG[wrong](doc["claims"]["1"])
    path.write_bytes(orjson.dumps(doc))
    for args in COMMANDS:
        run = run_cli(*args, data=data)
        assert run.returncode == 1, (args, run.stdout, run.stderr)
        assert run.stderr.startswith(f"claimwatch: error: {path} is not readable claimwatch data"), (args, run.stderr)
        assert len(run.stderr.splitlines()) == 1, (args, run.stderr)
    # `due` reads once and checks the claims it shows (those it passes over it does not make), and claim 1 is resolved
    due = run_cli("due", data=data)
    assert due.returncode == 0 and due.stdout == "no open claims are due for review\n", due.stderr
    assert path.read_bytes() == orjson.dumps(doc)  # left as it was

    service = ChatService(open_store(data), ChatSettings(UTC_TZ, frozenset({7}), "invite", "bot"))
    for text in ("/list", "/show 1", "/stats", "/due", "/forecast 2 40%"):
        [reply] = service.handle(Incoming(7, 7, text, "admin"), NOW)
        assert reply.text.startswith("⚠️ claimwatch cannot read or change its data right now"), text
