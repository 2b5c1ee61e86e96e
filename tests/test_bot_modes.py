"""How the bot receives updates: long polling by one process only, or webhook mode with Telegram's secret token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claimwatch.config import load_config, webhook
from claimwatch.errors import ConfigError

from conftest import ROOT, cwd_of
from fakebot import FakeBotAPI
from test_bot import ADMIN, bot_env, start_bot, stop_bot

HOOK = "https://bot.example.org/claimwatch/hook"
SECRET = "s3cret_-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_webhook_bot(api: FakeBotAPI, data: Path | str, port: int, secret: str | None) -> tuple[subprocess.Popen[str], str]:
    """`claimwatch run --webhook HOOK --listen 127.0.0.1:PORT` once it has set its webhook, and what it said."""
    env = bot_env(api.TOKEN, api.url, data) | ({"CLAIMWATCH_WEBHOOK_SECRET": secret} if secret else {})
    proc = subprocess.Popen([sys.executable, "-m", "claimwatch", "run", "--webhook", HOOK, "--listen",
                             f"127.0.0.1:{port}"], env=env, cwd=cwd_of(data), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    said = []
    for line in proc.stdout:
        said.append(line)
        if "serving data directory" in line or "serving the database" in line:
            break
    else:
        raise AssertionError(f"the bot did not start (exit {proc.wait()})")
    deadline = time.monotonic() + 30
    while not api.webhook and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.webhook, "the bot never called setWebhook"
    return proc, "".join(said)


@pytest.mark.parametrize("secret", [SECRET, None], ids=["secret-given", "secret-made"])
def test_webhook_mode_answers_updates_with_the_secret_and_refuses_the_rest(tmp_path: Path, secret: str | None) -> None:
    data, port = tmp_path / "data", free_port()
    with FakeBotAPI() as api:
        proc, said = start_webhook_bot(api, data, port, secret)
        try:
            assert api.webhook["url"] == HOOK
            used = api.webhook["secret_token"]
            assert used == secret if secret else len(used) >= 32
            listen = f"http://127.0.0.1:{port}/claimwatch/hook"
            api.user_message(ADMIN, "/list all")
            assert api.push_webhook(listen, secret=None) == [403]
            assert api.push_webhook(listen, secret="not-the-secret") == [403]
            assert api.push_webhook(f"http://127.0.0.1:{port}/elsewhere") == [404]
            mark = api.mark()
            assert api.push_webhook(listen) == [200]
            assert "no claims" in api.wait_reply(ADMIN, mark).text.lower()
            mark = api.mark()
            api.user_message(ADMIN, "/help")
            assert api.push_webhook(listen) == [200]
            assert "/add" in api.wait_reply(ADMIN, mark).text
            # the refused calls were never handled: /list was answered once, by the call with the secret
            assert sum("no claims" in (s.text or "").lower() for s in api.messages_to(ADMIN)) == 1
        finally:
            out = said + stop_bot(proc, api)
    assert not any(method.lower() == "getupdates" for method, _ in api.calls)
    assert "receiving updates by webhook at " + HOOK in out
    assert ("using a secret made for this run" in out) is (secret is None)
    assert used not in out


def test_a_second_poller_of_the_same_token_stops_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with FakeBotAPI() as api:
        first = start_bot(api, data)
        try:
            mark = api.mark()
            api.user_message(ADMIN, "/help")
            api.wait_reply(ADMIN, mark)  # the first bot receives updates
            second = subprocess.run([sys.executable, "-m", "claimwatch", "run"], env=bot_env(api.TOKEN, api.url, data),
                                    cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert second.returncode == 1, second.stderr
            said = [line for line in second.stderr.splitlines() if "long-polling" in line]
            assert len(said) == 1 and said[0].startswith("claimwatch: error: another process is already long-polling")
            assert said == second.stderr.splitlines()[-1:] and api.TOKEN not in second.stderr
            mark = api.mark()
            api.user_message(ADMIN, "/help")
            api.wait_reply(ADMIN, mark)  # the first one still serves
        finally:
            out = stop_bot(first, api)
    assert "another process is long-polling this bot's token too" in out


def test_the_fake_api_cuts_off_a_waiting_poll_as_telegram_does() -> None:
    """Telegram answers 409 to the getUpdates a newer one cut off, and to any while a webhook is set."""
    import json
    import threading
    import urllib.request

    def get_updates(api: FakeBotAPI, timeout: int) -> tuple[int, dict]:
        request = urllib.request.Request(f"{api.base_url}{api.TOKEN}/getUpdates", method="POST",
                                         data=json.dumps({"timeout": timeout}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    with FakeBotAPI() as api:
        answers: list[tuple[int, dict]] = []
        waiting = threading.Thread(target=lambda: answers.append(get_updates(api, 30)))
        waiting.start()
        while not any(m == "getUpdates" for m, _ in api.calls):
            time.sleep(0.005)
        assert get_updates(api, 0) == (200, {"ok": True, "result": []})
        waiting.join(10)
        assert answers[0][0] == 409 and "terminated by other getUpdates request" in answers[0][1]["description"]
        api.webhook = {"url": HOOK}
        status, body = get_updates(api, 0)
        assert status == 409 and "webhook is active" in body["description"]


@pytest.mark.parametrize("url, listen, env, says", [
    ("ftp://bot.example.org/x", None, {}, "is not an https URL"),
    ("http://bot.example.org/x", None, {}, "Telegram posts updates only to https URLs"),
    ("https://bot.example.org:8080/x", None, {}, "Telegram posts only to ports 443, 80, 88, 8443"),
    ("https://bot.example.org/x?a=1", None, {}, "without ?query"),
    (HOOK, "8443", {}, "--listen '8443': give an address and port"),
    (HOOK, "127.0.0.1:70000", {}, "--listen '127.0.0.1:70000'"),
    (HOOK, None, {"CLAIMWATCH_WEBHOOK_SECRET": "with space"}, "CLAIMWATCH_WEBHOOK_SECRET: use 1 to 256 characters"),
])
def test_a_bad_webhook_setting_is_one_clear_error(url: str, listen: str | None, env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        webhook(url, listen, load_config(env))
    assert says in str(raised.value) and "with space" not in str(raised.value)


def test_webhook_settings_as_read() -> None:
    own_server = load_config({"TELEGRAM_API_URL": "http://127.0.0.1:8081", "CLAIMWATCH_WEBHOOK_SECRET": SECRET})
    hook = webhook("http://bot.internal:8080/hook", "[::]:8443", own_server)  # a self-hosted Bot API server may
    assert (hook.host, hook.port, hook.path, hook.secret, hook.secret_made) == ("::", 8443, "/hook", SECRET, False)
    made = webhook("https://bot.example.org", ":8443", load_config({}), make_secret=lambda: "made")
    assert (made.host, made.port, made.path, made.secret, made.secret_made) == ("0.0.0.0", 8443, "/", "made", True)
    assert (webhook(HOOK, None, load_config({})).host, webhook(HOOK, None, load_config({})).port) == ("127.0.0.1", 8080)
    assert SECRET not in repr(hook) and SECRET not in repr(own_server)


def test_listen_without_webhook_and_a_bad_webhook_are_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CLAIMWATCH_DATA": str(tmp_path / "data"), "TELEGRAM_BOT_TOKEN": "1:x"}
    for args in (["run", "--listen", "127.0.0.1:8080"], ["run", "--webhook", "http://example.org/x"]):
        for command in ([sys.executable, "-m", "claimwatch", *args], [sys.executable, str(ROOT / "bot.py"), *args[1:]]):
            result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env)
            assert result.returncode == 2 and result.stdout == ""
            assert ("--listen goes with --webhook" in result.stderr or
                    "Telegram posts updates only to https URLs" in result.stderr.splitlines()[-1]), result.stderr
    assert not (tmp_path / "data").exists()


def test_a_webhook_telegram_refuses_is_one_line(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        api.fail_next("setWebhook", 400, "Bad Request: bad webhook: Failed to resolve host: Name or service not known")
        result = subprocess.run([sys.executable, "-m", "claimwatch", "run", "--webhook", HOOK, "--listen",
                                 f"127.0.0.1:{free_port()}"], env=bot_env(api.TOKEN, api.url, tmp_path / "data"),
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == ("claimwatch: error: Telegram refused the webhook (Bad webhook: failed to "
                                              "resolve host: name or service not known): check --webhook, a public "
                                              "https URL")


def test_a_webhook_address_in_use_is_one_line(tmp_path: Path) -> None:
    with FakeBotAPI() as api, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "claimwatch", "run", "--webhook", HOOK, "--listen",
                                 f"127.0.0.1:{port}"], env=bot_env(api.TOKEN, api.url, tmp_path / "data"),
                                cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(f"claimwatch: error: cannot listen on 127.0.0.1:{port} (")
