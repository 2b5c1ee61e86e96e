"""The `claimwatch` command line, driven as a user drives it: `python -m claimwatch ...` in a subprocess.

Each subprocess costs about half a second, so read-only tests share one populated data directory
(the `populated` fixture, built once per module); tests that write work on a copy of it (`workdir`)
or on a fresh directory of their own.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from typing import Any

import pytest

from claimwatch.cli import build_parser
from claimwatch.interchange import bundled_claims_path
from claimwatch.migrate import copy_store, fingerprint
from claimwatch.store import open_store
from conftest import NOW, ROOT, cwd_of, files_of, postgres_location, run_cli

EXAMPLES: list[dict] = json.loads(bundled_claims_path().read_text("utf-8"))["claims"]
EXAMPLE_NUMBERS = set(range(1, len(EXAMPLES) + 1))  # a new store numbers the example claims 1..n in file order
COMMANDS = {"add", "list", "due", "show", "forecast", "resolve", "reopen", "history", "import", "export",
            "console", "run", "stats", "report", "feeds", "watch", "evidence", "mine", "todo", "me",
            "delete", "restore", "purge", "edit", "snooze", "mute", "unmute", "settings",
            "examples", "migrate", "doctor", "serve", "share", "unshare"}
CSV_HEADER = ["number", "id", "kind", "text", "source", "source_url", "created", "review_date", "tags", "claim_p",
              "status", "outcome", "event_date", "forecaster", "p", "forecast_at", "note", "counts", "brier"]


# --- helpers -------------------------------------------------------------------------------------


def ok(result):
    """The result of a command that must succeed."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def as_json(result):
    return json.loads(ok(result).stdout)


def numbers(claims: list[dict]) -> list[int]:
    return [c["number"] for c in claims]


def added_number(result) -> int:
    m = re.fullmatch(r"added #(\d+): .*\n(  source's probability: .*\n)?", ok(result).stdout)
    assert m, result.stdout
    return int(m.group(1))


def snapshot(data: Path | str) -> dict[str, Any]:
    """Every file of a data directory (the writers' .lock aside), by path, with its bytes; of a database, each
    table's row count and hash (migrate.fingerprint)."""
    if not isinstance(data, Path):
        return fingerprint(open_store(data), NOW)
    return {p.relative_to(data).as_posix(): p.read_bytes()
            for p in sorted(data.rglob("*")) if p.is_file() and p.name != ".lock"}


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{stderr}"
    assert stderr.endswith("\n")
    return lines[0]


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Populated:
    data: Path | str
    siberia: int  # open, external id ext-1, due 2020-01-01 (overdue), #energy, forecasts by alice (80%) and bob (30%)
    future: int  # open, due 2099-12-31, #energy
    undated: int  # open, no review date, #misc
    resolved: int  # example claim 2 (#energy, mentions Power of Siberia), resolved true


@pytest.fixture(scope="module", params=["file", "postgresql"])
def populated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Populated:
    """A data directory (or a database) holding the example claims and three more, with forecasts and an
    outcome. Read-only."""
    data = tmp_path_factory.mktemp("populated") / "data" if request.param == "file" else \
        postgres_location(request.getfixturevalue("postgres_database"))
    ok(run_cli("list", data=data))
    siberia = added_number(run_cli("add", "Siberia pipeline talks resume, Gazprom says", "--due", "2020-01-01",
                                   "--tags", "energy", "--p", "0.6", "--id", "ext-1", data=data))
    future = added_number(run_cli("add", "Energy ministers meet again", "--due", "2099-12-31", "--tags", "energy",
                                  data=data))
    undated = added_number(run_cli("add", "A statement with no review date", "--tags", "misc", data=data))
    ok(run_cli("forecast", str(siberia), "80%", "--by", "alice", data=data))
    ok(run_cli("forecast", str(siberia), "0.3", "strong", "doubts", "--by", "bob", data=data))
    ok(run_cli("resolve", "2", "yes", "--date", "2024-06-01", "--evidence", "https://example.org/e", data=data))
    return Populated(data, siberia, future, undated, resolved=2)


@pytest.fixture
def workdir(populated: Populated, tmp_path: Path) -> Path | str:
    """A private copy of the populated data directory (or database), for tests that write (or might, by mistake)."""
    if not isinstance(populated.data, Path):
        copy = postgres_location(populated.data.split("?")[0])
        copy_store(open_store(populated.data), open_store(copy), NOW)
        return copy
    data = tmp_path / "data"
    shutil.copytree(populated.data, data)
    return data



# --- 1. a new user's session ---------------------------------------------------------------------


def test_new_user_session_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "data"

    # A first look says there are no claims yet and how to load the examples, and makes no data directory.
    first = ok(run_cli("list", data=data, examples=False))
    assert f"no data directory at {data} yet, so no claims: claimwatch examples load" in first.stderr
    assert first.stdout == "no claims match\n" and not data.exists()

    # Loading the examples makes it; they carry the tag example.
    loaded = ok(run_cli("examples", "load", data=data, examples=False))
    seeded = len(EXAMPLES)
    assert loaded.stdout.startswith(f"loaded {seeded} example claims from the source report")
    assert len(as_json(run_cli("list", "#example", "--json", data=data))) == seeded

    added = ok(run_cli("add", "Gazprom", "will", "sign", "the", "Power of Siberia 2 contract",
                       "--due", "2020-01-01", "--p", "70%", "--tags", "energy, russia",
                       "--watch", 'Power of Siberia 2, "Сила Сибири 2", +gas, -football',
                       "--source", "https://example.org/r", "--quote", "talks are advancing", data=data))
    assert "example claims" not in added.stderr
    assert "  source's probability: 70%\n" in added.stdout  # as read

    # A second command does not import again.
    second = run_cli("list", "all", "--json", data=data)
    claims = as_json(second)
    assert second.stderr == ""
    assert sorted(numbers(claims)) == list(range(1, seeded + 2))
    assert any("Power of Siberia" in c["text"] for c in claims)
    n = added_number(added)
    assert n == seeded + 1
    assert f"#{n}" in added.stdout

    ok(run_cli("forecast", str(n), "80%", "some", "note", "--by", "alice", data=data))
    second_forecast = ok(run_cli("forecast", str(n), "0.6", "--by", "alice", data=data))
    assert second_forecast.stdout == f"#{n}: alice forecasts 60%\n"

    shown = as_json(run_cli("show", str(n), "--json", data=data))
    assert shown["number"] == n
    assert shown["text"] == "Gazprom will sign the Power of Siberia 2 contract"
    assert shown["kind"] == "claim"
    assert shown["status"] == "open"
    assert shown["review_date"] == "2020-01-01"
    assert shown["p"] == 0.7
    assert shown["tags"] == ["energy", "russia"]
    assert shown["watch"] == ["Power of Siberia 2", "Сила Сибири 2", "+gas", "-football"]
    assert shown["source"]["url"] == "https://example.org/r"
    assert shown["source"]["title"] == ""
    assert shown["source"]["quote"] == "talks are advancing"
    assert shown["created_by"] == "tester"
    assert [(f["by"], f["p"], f["note"]) for f in shown["forecasts"]] == [("alice", 0.8, "some note"),
                                                                         ("alice", 0.6, "")]
    assert shown["outcome"] is None
    assert shown["evidence"] == []

    text = ok(run_cli("show", str(n), data=data)).stdout
    assert text.startswith(f"#{n} claim, open, review 2020-01-01")
    assert "Gazprom will sign the Power of Siberia 2 contract" in text
    assert "https://example.org/r" in text
    assert "talks are advancing" in text
    assert "Tags: #energy #russia" in text
    assert "Watch: Power of Siberia 2, Сила Сибири 2, +gas, -football" in text
    assert "Source's probability: 70%" in text
    assert "by tester" in text
    assert re.search(r"^  alice: 60% on ", text, re.M), text  # alice's current view is her latest forecast
    assert "alice: 80%" not in text

    assert n in numbers(as_json(run_cli("due", "--json", data=data)))

    resolved = ok(run_cli("resolve", str(n), "yes", "done", "--date", "2020-02-01", "--evidence", "https://e.org/1",
                          data=data))
    assert resolved.stdout == (f"#{n} resolved: true\n2 forecasts (alice) were made after the event (2020-02-01), "
                               "so they are not scored (hindsight).\n")
    outcome = as_json(run_cli("show", str(n), "--json", data=data))["outcome"]
    assert outcome["value"] == "true"
    assert outcome["event_date"] == "2020-02-01"
    assert outcome["evidence"] == ["https://e.org/1"]
    assert outcome["note"] == "done"
    assert outcome["by"] == "tester"

    assert numbers(as_json(run_cli("list", "resolved", "--json", data=data))) == [n]
    due_text = ok(run_cli("due", data=data)).stdout
    due_numbers = [int(x) for x in re.findall(r"^#(\d+) ", due_text, re.M)]
    assert n not in due_numbers
    assert 1 in due_numbers  # the example claims, due in 2024, still are

    assert ok(run_cli("reopen", str(n), data=data)).stdout == f"#{n} is open again\n"

    expected = [("add", "tester"), ("forecast", "alice"), ("forecast", "alice"), ("resolve", "tester"),
                ("reopen", "tester")]
    history_text = ok(run_cli("history", str(n), data=data)).stdout.splitlines()
    assert [(line.split()[3], line.split()[2]) for line in history_text] == expected
    assert "80% — some note" in history_text[1]
    assert "60% (was 80% — some note)" in history_text[2]
    assert "(was true — done)" in history_text[4]

    history = as_json(run_cli("history", str(n), "--json", data=data))
    assert [(c["action"], c["by"]) for c in history] == expected
    assert all(c["claim"] == n for c in history)
    assert history[0]["after"]["text"] == "Gazprom will sign the Power of Siberia 2 contract"
    assert history[3]["after"]["value"] == "true"
    reopen = history[4]
    assert reopen["before"]["value"] == "true"
    assert reopen["before"]["event_date"] == "2020-02-01"
    assert reopen["before"]["evidence"] == ["https://e.org/1"]
    assert reopen["before"]["note"] == "done"


# --- 2. list filters -----------------------------------------------------------------------------


def _examples_due_by(today: date) -> set[int]:
    return {i for i, c in enumerate(EXAMPLES, 1) if c.get("review_date") and date.fromisoformat(c["review_date"]) <= today}


def _examples_tagged(tag: str) -> set[int]:
    return {i for i, c in enumerate(EXAMPLES, 1) if tag in c.get("tags", [])}


@pytest.mark.parametrize("args, expected", [
    pytest.param(["list"], lambda p: EXAMPLE_NUMBERS - {p.resolved} | {p.siberia, p.future, p.undated},
                 id="open-by-default"),
    pytest.param(["list", "#energy"], lambda p: _examples_tagged("energy") - {p.resolved} | {p.siberia, p.future},
                 id="tag"),
    pytest.param(["list", "all"], lambda p: EXAMPLE_NUMBERS | {p.siberia, p.future, p.undated}, id="all"),
    pytest.param(["list", "resolved"], lambda p: {p.resolved}, id="resolved"),
    pytest.param(["list", "due"], lambda p: _examples_due_by(utc_today()) - {p.resolved} | {p.siberia}, id="due"),
    pytest.param(["list", "Siberia"], lambda p: {2, 3, p.siberia}, id="words-search-every-status"),
    pytest.param(["list", "resolved", "#energy"], lambda p: {p.resolved}, id="resolved-and-tag"),
])
def test_list_filters_select_the_right_claims(populated: Populated, args: list[str], expected) -> None:
    claims = as_json(run_cli(*args, "--json", data=populated.data))
    assert sorted(numbers(claims)) == sorted(expected(populated))
    if "due" not in args:
        assert numbers(claims) == sorted(numbers(claims))


def test_list_due_sorts_as_due_does(populated: Populated) -> None:
    listed = numbers(as_json(run_cli("list", "due", "--json", data=populated.data)))
    assert listed == numbers(as_json(run_cli("due", "--json", data=populated.data)))
    assert listed != sorted(listed)  # the example claims are not due in the order of their numbers


def test_list_an_analysts_claims(populated: Populated) -> None:
    assert numbers(as_json(run_cli("list", "@alice", "--json", data=populated.data))) == [populated.siberia]
    assert numbers(as_json(run_cli("list", "--json", "@alice", data=populated.data))) == [populated.siberia]


@pytest.mark.parametrize("args, says", [
    (["stats", "--by", "nobody"], "'nobody' has made no forecast here (known: @alice, @bob)"),
    (["stats", "--by", "Alice"], "'Alice' has made no forecast here; did you mean @alice?"),
    (["stats", "--tag", "nosuch"], "no claim has the tag #nosuch (known: #"),
    (["stats", "--tag", "energ"], "no claim has the tag #energ; did you mean #energy?"),
    (["report", "--by", "alicia", "-o", "r.html"], "did you mean @alice?"),
    (["list", "@alicia"], "'alicia' has made no forecast here; did you mean @alice?"),
    (["list", "#misk"], "no claim has the tag #misk; did you mean #misc?"),
])
def test_an_unknown_analyst_or_tag_is_named_with_the_close_ones(populated: Populated, args: list[str], says: str) -> None:
    result = run_cli(*args, data=populated.data)
    assert result.returncode == 2 and says in one_line(result.stderr) and result.stdout == ""
    assert not (cwd_of(populated.data) / "r.html").exists()


def test_list_filter_expectations_are_not_trivial(populated: Populated) -> None:
    """The sets the filter test expects really differ from each other (no subprocess)."""
    assert {2, 3} <= _examples_tagged("energy")
    assert populated.resolved in _examples_tagged("energy")
    assert 1 in _examples_due_by(utc_today())
    assert len(_examples_tagged("energy")) < len(EXAMPLES)


# --- 3. bad input --------------------------------------------------------------------------------


BAD_INPUT = [
    pytest.param(["forecast", "999", "50%"], ["no claim #999"], id="forecast-missing-claim"),
    pytest.param(["forecast", "{open}", "150%"], ["'150%'", "outside 0-100%"], id="forecast-over-100"),
    pytest.param(["forecast", "{open}", "abc"], ["'abc' is not a probability"], id="forecast-not-a-number"),
    pytest.param(["add", "x", "--due", "someday"], ["'someday'", "date"], id="add-bad-date"),
    pytest.param(["add", "x", "--published", "2099-01-01"], ["publication date 2099-01-01 is in the future"],
                 id="add-published-in-the-future"),
    pytest.param(["add", ""], ["text cannot be blank"], id="add-empty-text"),
    pytest.param(["add", "x", "--watch", "-only"], ["--watch", "expected one argument"], id="add-watch-dash-arg"),
    pytest.param(["add", "x", "--watch=-only"], ["watch terms", "only exclusions"], id="add-watch-only-exclusions"),
    pytest.param(["add", "again", "--id", "ext-1"], ["'ext-1'", "#{open}"], id="add-external-id-in-use"),
    pytest.param(["resolve", "{open}", "maybe"], ["'maybe' is not an outcome"], id="resolve-bad-outcome"),
    pytest.param(["resolve", "{open}", "true", "--date", "2099-01-01"], ["2099-01-01", "in the future"],
                 id="resolve-future-event"),
    pytest.param(["resolve", "{open}", "true", "--evidence", "notaurl"], ["'notaurl'", "URL"],
                 id="resolve-evidence-not-url"),
    pytest.param(["resolve", "{open}", "true", "--evidence", "https://"], ["'https://'", "URL"],
                 id="resolve-evidence-without-host"),
    pytest.param(["resolve", "{open}", "true", "--evidence", "http://a b"], ["'http://a b'", "URL"],
                 id="resolve-evidence-with-space"),
    pytest.param(["resolve", "{open}", "true", "--evidence", "ftp://x"], ["'ftp://x'", "URL"],
                 id="resolve-evidence-ftp"),
    pytest.param(["add", "x", "--source-url", "notaurl"], ["'notaurl'", "URL"], id="add-source-url-not-url"),
    pytest.param(["add", "x", "--source-url", "javascript:alert(1)"], ["'javascript:alert(1)'", "URL"],
                 id="add-source-url-javascript"),
    pytest.param(["add", "x", "--source", "https://a b"], ["'https://a b'", "URL"], id="add-source-url-with-space"),
    pytest.param(["resolve", "{resolved}", "false"], ["#{resolved} is already resolved (true)"],
                 id="resolve-resolved-claim"),
    pytest.param(["reopen", "{open}"], ["#{open} is open already"], id="reopen-open-claim"),
    pytest.param(["show", "abc"], ["'abc' is not a claim number"], id="show-not-a-number"),
    pytest.param(["show", "0"], ["'0' is not a claim number"], id="show-zero"),
    pytest.param(["history", "999"], ["no claim #999"], id="history-missing-claim"),
    pytest.param(["import", "{tmp}/missing.json"], ["missing.json", "no such file"], id="import-missing-file"),
    pytest.param(["import", "{tmp}/notes.txt"], ["notes.txt", "not valid JSON"], id="import-not-json"),
    pytest.param(["stats", "--tag", "#"], ["'#' is not a tag"], id="stats-tag-without-a-word"),
    pytest.param(["stats", "--tag", ""], ["--tag takes one tag, not ''"], id="stats-empty-tag"),
    pytest.param(["report", "--tag", "energy china"], ["--tag takes one tag"], id="report-two-tags"),
    pytest.param(["export", "--format", "xml"], ["--format", "'xml'", "invalid choice"], id="export-bad-format"),
    pytest.param(["export", "-o", "{data}/claims-0000.json"], ["claims-0000.json", "in the data directory"],
                 id="export-over-a-data-file"),
    pytest.param(["export", "--format", "csv", "-o", "{tmp}/data/../data/new.csv"], ["new.csv", "in the data directory"],
                 id="export-into-the-data-directory"),
    pytest.param(["report", "-o", "{data}/people.json"], ["people.json", "in the data directory"],
                 id="report-over-a-data-file"),
    pytest.param(["forecast", "{open}", "50", "--by", "   "], ["--by cannot be blank"], id="by-blank"),
    pytest.param(["forecast", "{open}", "50", "--by", "a\nb"], ["--by cannot hold control characters (\\n)"],
                 id="by-two-lines"),
    pytest.param(["forecast", "{open}", "50", "--by", "a" * 5000], ["--by is limited to 200 characters, not 5000",
                                                                    "'" + "a" * 79 + "…'"], id="by-5000-characters"),
    pytest.param(["stats", "--by", ""], ["--by cannot be blank"], id="stats-by-blank"),
    pytest.param(["add", "k", "--id", "  "], ["external id cannot be blank"], id="add-blank-external-id"),
    pytest.param(["add", "k", "--id", "x\ty"], ["external id cannot hold control characters (\\t)"],
                 id="add-external-id-with-a-tab"),
    pytest.param(["add", "ctl \x1b[31mred"], ["text cannot hold control characters (\\x1b): 'ctl \\x1b[31mred'"],
                 id="add-text-with-escape-sequence"),
    pytest.param(["add", "x", "--quote", "a\x7fb"], ["quote cannot hold control characters (\\x7f)"],
                 id="add-quote-with-delete"),
    pytest.param(["add", "x" * 5000], ["text is limited to 4000 characters, not 5000: '" + "x" * 79 + "…'"],
                 id="add-text-too-long"),
    pytest.param(["list", "#energy", "#trade"], ["list one #tag at a time, not #energy and #trade"], id="list-two-tags"),
    pytest.param(["list", "open", "resolved"], ["list resolved claims or open ones, not both: open and resolved"],
                 id="list-open-and-resolved"),
    pytest.param(["feeds", "remove", "1", "extra"], ["feeds remove takes no more words: 'extra'"],
                 id="feeds-remove-extra-word"),
    pytest.param(["forecast"], ["required", "id", "probability"], id="argparse-missing-arguments"),
    pytest.param(["frobnicate"], ["invalid choice", "'frobnicate'"], id="argparse-unknown-command"),
    pytest.param([], ["required", "COMMAND"], id="argparse-no-command"),
    pytest.param(["list", "--bogus"], ["unrecognized arguments", "--bogus"], id="argparse-unknown-option"),
]


@pytest.mark.parametrize("args, says", BAD_INPUT)
def test_bad_input_exits_2_with_one_line_and_changes_nothing(populated: Populated, workdir: Path, tmp_path: Path,
                                                             args: list[str], says: list[str]) -> None:
    if any("in the data directory" in phrase for phrase in says):
        files_of(workdir)
    (tmp_path / "notes.txt").write_text("these are notes, not JSON\n", encoding="utf-8")
    fill = {"open": populated.siberia, "resolved": populated.resolved, "tmp": tmp_path, "data": workdir}
    before = snapshot(workdir)
    result = run_cli(*[a.format(**fill) for a in args], data=workdir)
    assert result.returncode == 2, result
    line = one_line(result.stderr)
    assert line.startswith("claimwatch")
    assert "error" in line
    for phrase in says:
        assert phrase.format(**fill) in line
    assert result.stdout == ""
    assert snapshot(workdir) == before


@pytest.mark.parametrize("variable, value", [("CLAIMWATCH_TZ", "Mars/Olympus"), ("CLAIMWATCH_REMIND_AT", "25:00"),
                                             ("CLAIMWATCH_REMIND_AT", "nine")])
def test_a_bad_setting_exits_2_naming_it(workdir: Path, variable: str, value: str) -> None:
    before = snapshot(workdir)
    result = run_cli("list", data=workdir, env={variable: value})
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert variable in line
    assert value in line
    assert result.stdout == ""
    assert snapshot(workdir) == before


def test_a_bad_user_name_setting_exits_2_naming_it(workdir: Path) -> None:
    result = run_cli("list", data=workdir, env={"CLAIMWATCH_USER": "a\nb"})
    assert result.returncode == 2
    assert one_line(result.stderr) == "claimwatch list: error: CLAIMWATCH_USER: the name cannot hold control " \
                                      "characters (\\n): 'a\\nb'"


def test_a_name_as_long_as_the_bot_records_one_is_taken(workdir: Path) -> None:
    telegram = f"{'A' * 64} {'B' * 64} (1234567890)"  # a full name without @username, as the bot keeps it
    assert run_cli("forecast", "3", "40%", "--by", telegram, data=workdir).returncode == 0
    assert run_cli("stats", "--by", telegram, data=workdir).returncode == 0


def test_forecast_reads_an_unquoted_phrase_and_a_note_after_an_option(workdir: Path) -> None:
    assert "87.5%" in ok(run_cli("forecast", "3", "very", "likely", data=workdir)).stdout
    ok(run_cli("forecast", "3", "0.45", "--by", "carol", "coin flip-ish", data=workdir))
    forecasts = as_json(run_cli("show", "3", "--json", data=workdir))["forecasts"]
    assert [(f["by"], f["p"], f["note"]) for f in forecasts[-2:]] == [("tester", 0.875, ""), ("carol", 0.45, "coin flip-ish")]
    refused = run_cli("add", "Gas deal", "--p", "very", "likely", data=workdir)
    assert refused.returncode == 2 and "--p 'very likely'" in one_line(refused.stderr)


def test_add_with_a_past_review_date_warns_and_records_it(workdir: Path) -> None:
    result = ok(run_cli("add", "Back-filled claim", "--due", "31/12/2025", data=workdir))
    assert "claimwatch add: warning: the review date 2025-12-31 is in the past, so" in result.stderr
    assert "warning" not in ok(run_cli("add", "Later claim", "--due", "end of Q2 2099", data=workdir)).stderr


def test_missing_probability_message_does_not_call_the_optional_note_required(workdir: Path) -> None:
    result = run_cli("forecast", "3", data=workdir)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "probability" in line
    assert "note" not in line


# --- 4. import and export ------------------------------------------------------------------------


def test_export_then_import_into_a_fresh_directory_round_trips(populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    exported = ok(run_cli("export", "-o", str(out), data=populated.data))
    total = len(EXAMPLES) + 3
    assert exported.stdout == ""
    assert exported.stderr == f"exported {total} claims to {out}\n"
    original = json.loads(out.read_text("utf-8"))
    assert original["version"] == 1
    by_number = {c["number"]: c for c in original["claims"]}
    assert len(by_number) == total
    # The store exported is not trivial: it has forecasts and an outcome.
    assert [(f["by"], f["p"]) for f in by_number[populated.siberia]["forecasts"]] == [("alice", 0.8), ("bob", 0.3)]
    assert by_number[populated.resolved]["outcome"]["value"] == "true"
    assert by_number[populated.resolved]["outcome"]["evidence"] == ["https://example.org/e"]

    fresh = tmp_path / "fresh"
    imported = ok(run_cli("import", str(out), data=fresh, examples=False))
    assert imported.stdout == f"{out}: {total} added, 0 updated, 0 unchanged\n"
    assert imported.stderr == ""

    again = json.loads(ok(run_cli("export", data=fresh)).stdout)
    assert again["version"] == 1
    assert again["claims"] == original["claims"]

    before = snapshot(fresh)
    second = ok(run_cli("import", str(out), data=fresh))
    assert second.stdout == f"{out}: 0 added, 0 updated, {total} unchanged\n"
    assert snapshot(fresh) == before


def _write_doc_with_problems(path: Path) -> None:
    doc = {"version": 1, "claims": [
        {"text": "A perfectly good claim"},
        {"text": "A claim with a bad forecast", "forecasts": [{"by": "ann", "p": 1.5, "at": "2024-05-01T10:00:00"}]},
        {"kind": "claim", "tags": ["x"]},
        {"text": "A claim with a bad review date", "review_date": "2024-99-01"},
    ]}
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_import_with_problems_names_them_and_imports_nothing(workdir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    _write_doc_with_problems(bad)
    before = snapshot(workdir)
    result = run_cli("import", str(bad), data=workdir)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "nothing imported" in lines[0]
    problems = lines[1:]
    assert any(p.strip().startswith("claims[1].forecasts[0].p:") and "1.5" in p for p in problems), result.stderr
    assert any(p.strip().startswith("claims[2]") and "'text'" in p for p in problems), result.stderr
    assert not any("claims[0]" in p for p in problems), result.stderr
    assert snapshot(workdir) == before


def test_import_into_a_new_data_directory_names_every_problem_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"claims": [
        {"text": "Resolved in the future", "outcome": {"value": "true", "event_date": "2099-01-01"}},
        {"text": "Bad probability", "p": 1.5}]}), encoding="utf-8")
    result = run_cli("import", str(bad), data=tmp_path / "data", examples=False)
    assert result.returncode == 2 and not (tmp_path / "data").exists()
    assert [line.split(":")[0].strip() for line in result.stderr.splitlines()[1:]] == [
        "claims[0].outcome.event_date", "claims[1].p"]


def test_import_with_problems_lists_every_problem_at_once(workdir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    _write_doc_with_problems(bad)
    result = run_cli("import", str(bad), data=workdir)
    assert result.returncode == 2
    assert "claims[3].review_date" in result.stderr
    assert "3 problems" in result.stderr.splitlines()[0]


def test_import_reports_a_bad_date_with_its_claim_and_field(workdir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "dates.json"
    bad.write_text(json.dumps({"version": 1, "claims": [
        {"text": "fine"}, {"text": "bad date", "review_date": "2024-99-01"}]}), encoding="utf-8")
    before = snapshot(workdir)
    result = run_cli("import", str(bad), data=workdir)
    assert result.returncode == 2
    assert "1 problem, nothing imported" in result.stderr
    assert re.search(r"^\s+claims\[1\]\.review_date: ", result.stderr, re.M), result.stderr
    assert snapshot(workdir) == before


def test_export_csv_has_a_header_and_a_row_per_forecast(populated: Populated) -> None:
    result = ok(run_cli("export", "--format", "csv", data=populated.data))
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == CSV_HEADER
    records = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    # A claim without forecasts has one row; the siberia claim has two forecasts, so two rows.
    assert len(records) == len(EXAMPLES) + 3 + 1
    assert [int(r["number"]) for r in records] == sorted(
        list(EXAMPLE_NUMBERS) + [populated.siberia] * 2 + [populated.future, populated.undated])
    forecasts = [(r["forecaster"], float(r["p"]), r["note"]) for r in records if int(r["number"]) == populated.siberia]
    assert forecasts == [("alice", 0.8, ""), ("bob", 0.3, "strong doubts")]
    resolved = [r for r in records if int(r["number"]) == populated.resolved]
    assert len(resolved) == 1
    assert (resolved[0]["status"], resolved[0]["outcome"], resolved[0]["event_date"]) == ("resolved", "true",
                                                                                          "2024-06-01")
    assert resolved[0]["id"] == EXAMPLES[populated.resolved - 1]["id"]
    undated = next(r for r in records if int(r["number"]) == populated.undated)
    assert (undated["forecaster"], undated["p"], undated["review_date"], undated["tags"]) == ("", "", "", "misc")


# --- 5. help -------------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> tuple[argparse._SubParsersAction, dict]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action, action.choices


def test_every_command_and_argument_has_help_text() -> None:
    parser = build_parser()
    action, choices = _subcommands(parser)
    assert set(choices) == COMMANDS
    helps = {a.dest: a.help for a in action._choices_actions}
    assert set(helps) == COMMANDS
    for name, sub in choices.items():
        assert helps[name] and helps[name].strip(), f"{name} has no help"
        assert sub.description and sub.description.strip(), f"{name} has no description"
        for arg in sub._actions:
            label = "/".join(arg.option_strings) or arg.dest
            assert arg.help and arg.help is not argparse.SUPPRESS and arg.help.strip(), f"{name} {label} has no help"
        assert sub.format_help().strip()  # the help renders (no stray % in a help string)
    for arg in parser._actions:
        if arg is not action:  # the COMMAND group is described by the help of each command
            assert arg.help, f"claimwatch {'/'.join(arg.option_strings)} has no help"


def test_help_lists_every_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli("--help", data=data, examples=False)
    assert result.returncode == 0
    listed = set(re.findall(r"^\s{4}(\w+)\s", result.stdout, re.M))
    assert COMMANDS <= listed, result.stdout
    assert not data.exists()  # asking for help does not create a data directory


# --- 6. a corrupt data file ----------------------------------------------------------------------


@pytest.mark.parametrize("corrupt", [
    pytest.param(lambda old: b"\x00\xffgarbage{{ not json", id="garbage"),
    pytest.param(lambda old: old[: len(old) // 2], id="truncated"),
    pytest.param(lambda old: b"", id="empty"),
    pytest.param(lambda old: b'{"claims": 5}', id="json-of-the-wrong-shape"),
    pytest.param(lambda old: b'{"claims": {"1": {"text": "x"}}}', id="claim-missing-fields"),
])
def test_corrupt_data_file_exits_1_naming_it_and_leaves_it_untouched(workdir: Path, corrupt) -> None:
    workdir = files_of(workdir)
    path = workdir / "claims-0000.json"
    path.write_bytes(corrupt(path.read_bytes()))
    before = snapshot(workdir)
    result = run_cli("list", data=workdir)
    assert result.returncode == 1, result
    line = one_line(result.stderr)
    assert line.startswith("claimwatch: error: ")
    assert str(path) in line
    assert result.stdout == ""
    assert snapshot(workdir) == before


def test_a_damaged_data_file_reported_as_left_untouched_takes_no_writes(workdir: Path) -> None:
    workdir = files_of(workdir)
    path = workdir / "claims-0000.json"
    data = json.loads(path.read_text("utf-8"))
    del data["claims"]["1"]["text"]
    path.write_text(json.dumps(data), encoding="utf-8")
    before = snapshot(workdir)
    assert "it was left untouched" in run_cli("list", "all", data=workdir).stderr
    for args in (["add", "probe"], ["forecast", "3", "50%"], ["resolve", "4", "true"]):
        result = run_cli(*args, data=workdir)
        assert result.returncode == 1, result
        assert str(path) in one_line(result.stderr)
        assert snapshot(workdir) == before


# root may write anywhere; without these capabilities it is held to file permissions, as any user is
AS_A_PLAIN_USER = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner") if os.geteuid() == 0 else ()


def test_a_read_only_data_directory_can_be_read_and_refuses_changes_in_one_line(workdir: Path) -> None:
    workdir = files_of(workdir)
    (workdir / ".lock").unlink(missing_ok=True)
    before = snapshot(workdir)
    for path in (*workdir.iterdir(), workdir):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        for args in (["list", "all"], ["show", "2"], ["due"], ["history", "2"], ["stats"], ["export"]):
            ok(run_cli(*args, data=workdir, prefix=AS_A_PLAIN_USER))
        result = run_cli("add", "probe", data=workdir, prefix=AS_A_PLAIN_USER)
        assert result.returncode == 1
        assert "reading works, changing needs write access" in one_line(result.stderr)
    finally:
        workdir.chmod(0o755)
    assert snapshot(workdir) == before


@pytest.mark.parametrize("args", [
    ["add", "x", "--p", "abc"], ["add", " "], ["add", "x", "--due", "someday"], ["add", "x", "--tags", "a/b"],
    ["forecast", "1", "abc"], ["forecast", "one", "50%"], ["resolve", "1", "maybe"],
    ["resolve", "1", "true", "--evidence", "notaurl"], ["resolve", "1", "true", "--date", "2099-01-01"],
    ["evidence", "1", "--label", "1", "agrees"], ["history", "x"], ["show", "0"],
    ["feeds", "add", "notaurl"], ["feeds", "remove", "x"], ["import", "missing.json"],
], ids=" ".join)
def test_bad_input_on_a_new_data_directory_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    data = tmp_path / "data"
    result = run_cli(*args, data=data, examples=False)
    assert result.returncode == 2
    assert "error" in one_line(result.stderr)
    assert not data.exists()


@pytest.mark.parametrize("args", [
    ["forecast", "99", "50%"], ["resolve", "99", "true"], ["reopen", "1"], ["feeds", "remove", "7"],
    ["evidence", "99", "--label", "1", "supports"],
], ids=" ".join)
def test_a_command_that_fails_on_a_new_data_directory_leaves_none(tmp_path: Path, args: list[str]) -> None:
    data = tmp_path / "data"
    result = run_cli(*args, data=data, examples=False)
    assert result.returncode == 2 and "error" in one_line(result.stderr) and "new data directory" not in result.stderr
    assert not data.exists()


@pytest.mark.parametrize("args", [
    ["list"], ["due"], ["stats"], ["export"], ["feeds", "list"], ["mine"], ["todo"],
], ids=" ".join)
def test_a_reading_command_on_a_new_data_directory_says_how_to_load_the_examples_and_makes_none(
        tmp_path: Path, args: list[str]) -> None:
    data = tmp_path / "data"
    result = ok(run_cli(*args, data=data, examples=False))
    assert "claimwatch examples load" in result.stderr
    assert not data.exists()


def test_examples_load_once_and_remove_deletes_them(tmp_path: Path, data: Path | str) -> None:
    assert ok(run_cli("examples", "load", data=data, examples=False)).stdout.startswith("loaded 18 example claims")
    assert ok(run_cli("examples", "load", data=data)).stdout == "the example claims are here already\n"
    ok(run_cli("add", "A real claim", data=data))
    assert ok(run_cli("examples", "remove", data=data)).stdout.startswith("deleted 18 example claims")
    assert [c["text"] for c in as_json(run_cli("list", "all", "--json", data=data))] == ["A real claim"]
    assert ok(run_cli("examples", "remove", data=data)).stdout == "no example claims are listed\n"


def test_the_default_data_directory_is_the_users_data_directory_and_help_names_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env |= {"XDG_DATA_HOME": str(tmp_path / "share"), "HOME": str(tmp_path / "home"), "CLAIMWATCH_USER": "tester",
            "COLUMNS": "1000"}  # the path on one line of --help
    work = tmp_path / "work"
    work.mkdir()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "claimwatch", *args], capture_output=True, text=True, env=env,
                              cwd=work, timeout=120)

    expected = tmp_path / "share" / "claimwatch"
    assert f"$CLAIMWATCH_DATA (now {expected})" in " ".join(cli("--help").stdout.split())
    assert cli("examples", "load").returncode == 0 and cli("forecast", "3", "40%").returncode == 0
    assert (expected / "meta.json").exists() and list(work.iterdir()) == []
    assert "40%" in cli("show", "3").stdout


def _imported(args: list[str], data: Path) -> set[str]:
    """The top-level packages a command imports (python -X importtime), as a user runs it."""
    result = run_cli(*args, data=data, env={"PYTHONPROFILEIMPORTTIME": "1"})
    return {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "import time:" in line}


@pytest.mark.parametrize("args", [["list"], ["due"], ["show", "2"], ["stats"], ["export"], ["history", "2"]],
                         ids=" ".join)
def test_a_command_that_draws_nothing_loads_no_plotting_library(workdir: Path, args: list[str]) -> None:
    """matplotlib alone takes longer to load than these commands may take to run (bench/startup_bench.py)."""
    loaded = _imported(args, workdir)
    assert "claimwatch" in loaded and "matplotlib" not in loaded and "telegram" not in loaded
    assert "matplotlib" in _imported(["report", "-o", str(cwd_of(workdir) / "r.html")], workdir)  # one that draws


def test_the_readme_session_runs_as_shown(tmp_path: Path, data: Path | str) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    block = readme.split("## A session", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[list[str], list[str]]] = []  # each command, and the output shown under it
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:]), []))
        else:
            steps[-1][1].append(line)
    assert len(steps) >= 8
    for command, shown in steps:
        assert command[0] == "claimwatch"
        result = ok(run_cli(*command[1:], data=data, cwd=tmp_path, examples=False))
        if shown:
            assert result.stdout.splitlines() == shown


# --- 6. where the output goes, and the .env file ---------------------------------------------------


def _run_into(stdout_path: str, *args: str, data: Path | str, input: str | None = None):
    """Like run_cli, with standard output written to `stdout_path` (such as /dev/full)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PYTHONIOENCODING": "utf-8"}
    with open(stdout_path, "w") as out:
        return subprocess.run([sys.executable, "-m", "claimwatch", *args], stdout=out, stderr=subprocess.PIPE,
                              text=True, env=env, input=input, cwd=cwd_of(data), timeout=120)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args, input", [(["export"], None), (["list"], None), (["console"], "/export json\n"),
                                         (["show", "1"], None)], ids=["export", "list", "console", "show"])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(populated: Populated, tmp_path: Path,
                                                                   args: list[str], input: str | None) -> None:
    data = tmp_path / "data" if isinstance(populated.data, Path) else populated.data  # (what it runs only reads)
    if isinstance(data, Path):
        shutil.copytree(populated.data, data)
    result = _run_into("/dev/full", *args, data=data, input=input)
    assert result.returncode == 1
    assert one_line(result.stderr) == "claimwatch: cannot write the output: No space left on device"


def test_a_reader_that_leaves_early_ends_the_output_quietly(populated: Populated) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")} | {
        "CLAIMWATCH_DATA": str(populated.data), "CLAIMWATCH_USER": "tester"}
    for args in (["list", "all"], ["export"]):
        writer = subprocess.Popen([sys.executable, "-m", "claimwatch", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        writer.stdout.close()  # before it writes: as `| head -1` does once it has its line
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0
        assert err == b""


@pytest.mark.parametrize("body, says", [(b"\xff\xfe=1\n", ["byte 1 (0xff)", "UTF-8"]),
                                        (b"CLAIMWATCH_TZ=UTC\nX=a\x00b\n", ["line 2", "NUL"])], ids=["latin", "nul"])
def test_a_bad_env_file_exits_2_naming_it(workdir: Path, body: bytes, says: list[str]) -> None:
    workdir = files_of(workdir)
    (workdir.parent / ".env").write_bytes(body)
    before = snapshot(workdir)
    result = run_cli("list", data=workdir)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("claimwatch list: error: .env: ")
    for phrase in says:
        assert phrase in line
    assert result.stdout == ""
    assert snapshot(workdir) == before


def test_a_claimreview_export_says_how_many_reviews_it_wrote(populated: Populated, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonld"
    result = ok(run_cli("export", "--format", "claimreview", "-o", str(out), data=populated.data))
    written = len(json.loads(out.read_text("utf-8")))
    assert 0 < written < len(as_json(run_cli("list", "all", "--json", data=populated.data)))
    assert one_line(result.stderr) == f"exported {written} review{'s' * (written != 1)} of resolved claims to {out}"


def test_a_bad_import_file_cuts_long_values_and_makes_no_data_directory(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "claims": [{"text": "x" * 5000, "tags": ["y" * 5000],
                                                         "review_date": "z" * 5000}]}), encoding="utf-8")
    data = tmp_path / "data"
    result = run_cli("import", str(bad), data=data, examples=False)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"claimwatch import: error: {bad}: 3 problems, nothing imported"
    assert sorted(lines[1:]) == sorted([
        "  claims[0].text: '" + "x" * 77 + "…' is too long",
        "  claims[0].tags: '" + "y" * 77 + "…' is not a tag: use letters, digits, '-' or '_', at most 40 characters",
        "  claims[0].review_date: '" + "z" * 77 + "…' is not an ISO date such as 2024-06-17"])
    assert not data.exists()
