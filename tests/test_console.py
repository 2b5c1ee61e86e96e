"""The console chat and `run` without a token, as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_cli

SESSION = """\
/help
/add Arctic shipping grows | due 2030-01-01 | p 60% | tags arctic | watch Northern Sea Route, Севморпуть
/show 19
1
3
/add
Guided claim from a pipe
skip
likely
tags pipe
save
/forecast 999 50%
/bogus
"""


def test_console_reads_commands_from_a_pipe_and_keeps_the_state(tmp_path: Path, data: Path | str) -> None:
    result = run_cli("console", data=data, input=SESSION)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "You are an admin." in out and "/invite <analyst|subscriber>" in out  # plain text, unescaped
    assert "Recorded #19: Arctic shipping grows" in out
    assert "[1] Forecast…  [2] Resolve…  [3] Subscribe  [4] History" in out
    assert "Your forecast for #19" in out and "[3] 20%" in out  # pressing 1 showed the forecast buttons
    assert "#19: your forecast is 20%." in out  # pressing 3 on them forecast 20%
    assert "Recorded #20: Guided claim from a pipe" in out
    assert "⚠️ there is no claim #999" in out and "I don't know /bogus" in out

    shown = json.loads(run_cli("show", "19", "--json", data=data).stdout)
    assert shown["watch"] == ["Northern Sea Route", "Севморпуть"] and shown["p"] == 0.6
    assert [(f["by"], f["p"]) for f in shown["forecasts"]] == [("tester", 0.2)]
    guided = json.loads(run_cli("show", "20", "--json", data=data).stdout)
    assert (guided["p"], guided["tags"], guided["created_by"]) == (0.675, ["pipe"], "tester")


def test_bot_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for command in ([sys.executable, str(ROOT / "bot.py")], [sys.executable, "-m", "claimwatch", "run"]):
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60,
                                env={"PATH": "/usr/bin:/bin", "CLAIMWATCH_DATA": str(data)})
        assert result.returncode == 2
        assert result.stdout == ""
        line, = result.stderr.splitlines()
        assert "@BotFather" in line and "claimwatch console" in line
        assert not data.exists()


def test_console_files_never_replace_a_file_and_never_land_in_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    work = tmp_path / "work"
    work.mkdir()
    scored = tmp_path / "scored.json"  # a scored forecast, so /stats has a chart to save
    scored.write_text(json.dumps({"claims": [{"text": "Scored", "forecasts": [
        {"by": "ann", "p": 0.7, "at": "2024-01-01T00:00:00Z"}], "outcome": {"value": "true", "event_date": "2024-02-01"}}]}))
    assert run_cli("import", str(scored), data=data).returncode == 0
    result = run_cli("console", data=data, cwd=work, input="/export csv\n/export csv\n/stats\n")
    assert result.returncode == 0, result.stderr
    csvs = sorted(p.name for p in work.glob("*.csv"))[::-1]  # claimwatch-<day>.csv, claimwatch-<day>-2.csv
    assert len(csvs) == 2 and csvs[1] == csvs[0].replace(".csv", "-2.csv")
    assert f"(saved {csvs[0]})" in result.stdout and f"(saved {csvs[1]})" in result.stdout
    (work / "calibration.png").write_bytes(b"mine")
    assert "(saved calibration-2.png)" in run_cli("console", data=data, cwd=work, input="/stats\n").stdout
    assert (work / "calibration.png").read_bytes() == b"mine"

    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file() and p.name != ".lock"}
    inside = run_cli("console", data=data, cwd=data, env={"CLAIMWATCH_DATA": "."}, input="/export\n/stats\n")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.count("(not saved: . is in the data directory .; run the console from another folder)") == 2
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file() and p.name != ".lock"} == before


def test_quit_leaves_the_console(data: Path | str) -> None:
    result = run_cli("console", data=data, input="/help\n/quit\n/add Never recorded\n")
    assert result.returncode == 0 and "I don't know /quit" not in result.stdout and "Recorded" not in result.stdout


def test_each_answer_is_followed_by_a_blank_line(data: Path | str) -> None:
    result = run_cli("console", data=data, input="/show 3\n/subscribe all\n")
    assert "[4] History\n\nSubscribed to all claims" in result.stdout  # the buttons of /show, then the next answer
