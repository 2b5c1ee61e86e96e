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


def test_console_reads_commands_from_a_pipe_and_keeps_the_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
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
    for command in ([sys.executable, str(ROOT / "bot.py")], [sys.executable, "-m", "claimwatch", "run"]):
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60,
                                env={"PATH": "/usr/bin:/bin", "CLAIMWATCH_DATA": str(tmp_path / "data")})
        assert result.returncode == 2
        assert result.stdout == ""
        line, = result.stderr.splitlines()
        assert "@BotFather" in line and "claimwatch console" in line
        assert not (tmp_path / "data").exists()
