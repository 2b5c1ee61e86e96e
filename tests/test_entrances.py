"""Text from outside, at every entrance: broken UTF-8, lone surrogates, control characters, huge integers, dates
out of range and zero-width names get one line saying what is wrong, never a traceback, and nothing stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimwatch import ledger
from claimwatch.chat import COMMANDS, ChatService, ChatSettings, Incoming
from claimwatch.model import OutcomeValue, Role
from claimwatch.parsing import no_surrogates, printable
from claimwatch.store import open_store
from conftest import NOW, UTC_TZ, run_cli


def one_line_error(run: subprocess.CompletedProcess[str], says: str, code: int = 2) -> None:
    assert run.returncode == code and "Traceback" not in run.stderr, run.stderr
    assert says in run.stderr, run.stderr


def test_an_argument_that_is_not_utf8_is_one_line(data: Path | str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester"}
    for args in ([b"add", b"caf\xe9"], [b"list", b"caf\xe9"], [b"forecast", b"1", b"30%", b"n\xff"]):
        run = subprocess.run([sys.executable, "-m", "claimwatch", *args], env=env, capture_output=True, text=True)
        one_line_error(run, f"argument {len(args)} is not valid UTF-8 text: b'")
        assert len(run.stderr.splitlines()) == 1
    user = run_cli("forecast", "1", "30%", data=data, env={"CLAIMWATCH_USER": "b\udce9"}, examples=False)
    one_line_error(user, "CLAIMWATCH_USER: the name is not valid text (it holds \\udce9")


@pytest.mark.parametrize("claim, says", [
    ('{"text": "a\\ud800b"}', "claims[0].text: control characters and broken text are not allowed (\\ud800)"),
    ('{"text": "ok", "forecasts": [{"by": "a\\udfff", "p": 0.5, "at": "2026-01-01T00:00:00Z"}]}',
     "claims[0].forecasts[0].by: a forecaster's name is not valid text (it holds \\udfff"),
    ('{"text": "ok", "outcome": {"value": "true", "note": "x\\u001b[2J"}}',
     "claims[0].outcome.note: control characters and broken text are not allowed (\\x1b)"),
    ('{"text": "ok", "p": 1' + "0" * 5000 + "}", "not a claims file (Exceeds the limit (4300 digits)"),
    ('{"text": "ok", "created": "0001-01-01T00:00:00+00:00"}',
     "claims[0].created: a date must be within the years 1900-2200, not 0001-01-01"),
    ('{"text": "ok", "review_date": "9999-12-31"}', "claims[0].review_date: a date must be within the years 1900-2200"),
    ('{"text": "ok", "forecasts": [{"by": "a", "p": 0.5, "at": "9999-01-01T00:00:00Z"}]}',
     "claims[0].forecasts[0].at: a date must be within the years 1900-2200"),
    ('{"text": "ok", "number": 999999999}', "claims[0].number: a claim number above 10,000,000 is not kept"),
])
def test_an_import_of_text_or_numbers_that_cannot_be_kept_is_refused_in_lines(tmp_path: Path, claim: str,
                                                                            says: str) -> None:
    data = tmp_path / "data"
    doc = tmp_path / "claims.json"
    doc.write_text('{"version": 1, "claims": [' + claim + "]}")
    run = run_cli("import", str(doc), data=data, examples=False)
    one_line_error(run, says)
    assert not data.exists() or open_store(data).find_claims() == []


def test_a_claim_number_just_under_the_bound_leaves_later_claims_addressable(tmp_path: Path, data: Path | str) -> None:
    doc = tmp_path / "claims.json"
    doc.write_text(json.dumps({"version": 1, "claims": [{"text": "far", "number": 10_000_000}]}))
    assert run_cli("import", str(doc), data=data).returncode == 0
    assert run_cli("add", "after it", data=data).stdout == "added #10000001: after it\n"
    assert run_cli("show", "10000001", data=data).returncode == 0


NOTES = [("forecast", "1", "30%"), ("resolve", "1", "true"), ("reopen", "2")]


@pytest.mark.parametrize("command", NOTES, ids=[c[0] for c in NOTES])
def test_a_note_with_control_characters_is_refused_in_cli_and_chat(tmp_path: Path, command: tuple[str, ...]) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    for text in ("one", "two"):
        ledger.add_claim(store, ledger.NewClaim(text=text), "ana", NOW)
    ledger.resolve(store, 2, OutcomeValue.TRUE, "ana", NOW)
    before = {p.name: p.read_bytes() for p in data.glob("*.json")}
    run = run_cli(*command, "clear\x1b[2Jscreen", data=data)
    one_line_error(run, "a note cannot hold control characters (\\x1b): 'clear\\x1b[2Jscreen'")
    service = ChatService(open_store(data), ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))
    [reply, *_] = service.handle(Incoming(1, 1, f"/{' '.join(command)} x\x1bc", "admin"), NOW)
    assert reply.text.startswith("⚠️ a note cannot hold control characters") and "\x1b" not in reply.text
    assert {p.name: p.read_bytes() for p in data.glob("*.json")} == before


@pytest.mark.parametrize("name, says", [("N\x1b[2J", "a feed's name cannot hold control characters"),
                                        ("\u200b\u200d", "a feed's name cannot be blank")])
def test_a_feed_name_with_control_or_only_zero_width_characters_is_refused(tmp_path: Path, name: str,
                                                                           says: str, data: Path | str) -> None:
    one_line_error(run_cli("feeds", "add", "https://a.example/rss", name, data=data), says)
    service = ChatService(open_store(data), ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))
    [reply] = service.handle(Incoming(1, 1, f"/addfeed https://a.example/rss {name}", "admin"), NOW)
    assert reply.text.startswith(f"⚠️ {says}")
    assert open_store(data).feeds() == []


def test_zero_width_names_are_refused(data: Path | str) -> None:
    run = run_cli("add", "x", "--by", "\u200b\u2060", data=data)
    one_line_error(run, "--by cannot be blank")


def test_an_opml_name_with_control_characters_is_kept_without_them(tmp_path: Path, data: Path | str) -> None:
    opml = tmp_path / "f.opml"
    opml.write_bytes(b'<opml version="2.0"><body><outline text="Gas\x1b[2J news" xmlUrl="https://a.example/rss"/>'
                     b"</body></opml>")
    run = run_cli("feeds", "import-opml", str(opml), data=data)
    assert run.returncode == 0 and "control characters and broken text were taken out of the name" in run.stderr
    assert [f.name for f in open_store(data).feeds()] == ["Gas [2J news"]


# What a Telegram message may hold (lone surrogates included: Telegram passes a broken \\ud800 escape on)
telegram_text = st.text(st.characters(codec=None, categories=None, exclude_categories=()), max_size=40)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(sorted(COMMANDS)), args=telegram_text, name=telegram_text)
def test_any_text_through_the_chat_entrance_never_raises_or_answers_a_control_character(command: str, args: str,
                                                                                         name: str) -> None:
    store = open_store(None)
    ledger.add_claim(store, ledger.NewClaim(text="one"), "seed", NOW)
    store.set_role(7, Role.ANALYST, "ana", "seed", NOW)
    service = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))
    for user in (1, 7):
        # as the bot takes a message in (test_bot checks that it does)
        incoming = Incoming(user, user, no_surrogates(f"/{command} {args}"), printable(name), "private")
        service.seen(incoming, NOW)
        for reply in service.handle(incoming, NOW):
            shown = [c for c in reply.text if unicodedata.category(c) in ("Cc", "Cs") and c not in "\n"]
            assert not shown, (reply.text, shown)


def test_stored_control_characters_reach_a_terminal_only_as_escapes(data: Path | str) -> None:
    """Data an older version kept (or a feed carried) may hold an ESC; `claimwatch evidence` on a terminal shows
    it as \\x1b, and an export to a pipe keeps the data as it is."""
    import pty

    from claimwatch.model import Evidence

    store = open_store(data)
    ledger.add_claim(store, ledger.NewClaim(text="one"), "ana", NOW)
    store.add_evidence([Evidence(0, 1, "https://n.example/1", "clear\x1b[2Jscreen", NOW, feed="Wire")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PYTHONIOENCODING": "utf-8"}
    main, terminal = pty.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "claimwatch", "evidence", "1"], env=env, stdout=terminal,
                             stderr=subprocess.PIPE, timeout=60)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    assert run.returncode == 0 and b"clear\\x1b[2Jscreen" in shown and b"\x1b" not in shown
    piped = run_cli("evidence", "1", "--json", data=data)
    assert json.loads(piped.stdout)[0]["title"] == "clear\x1b[2Jscreen"


cli_word = st.text(st.characters(codec=None, categories=None, exclude_categories=()), min_size=1, max_size=12)
CLI_COMMANDS = [["add"], ["forecast", "1"], ["resolve", "1", "true"], ["reopen", "1"], ["list"], ["show"],
                ["feeds", "add", "https://a.example/rss"], ["add", "x", "--by"], ["add", "x", "--tags"]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(CLI_COMMANDS), words=st.lists(cli_word, min_size=1, max_size=3))
def test_any_text_through_the_command_line_never_raises_or_prints_a_control_character(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str],
        words: list[str]) -> None:
    from claimwatch.cli import main

    monkeypatch.setenv("CLAIMWATCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CLAIMWATCH_USER", "tester")
    try:
        code = main([*command, *words])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    assert code in (0, 1, 2)
    for text in (out, err):
        assert not [c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in "\n"], text
