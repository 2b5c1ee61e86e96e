"""The web view without a browser: a real uvicorn on 127.0.0.1, a real data directory, a fixed clock."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from claimwatch import delivery, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.migrate import fingerprint
from claimwatch.model import Change, Chat, Role, Source, Stance
from claimwatch.store import Store
from conftest import NOW, ROOT, UTC_TZ, run_cli
from webserver import (ADMIN, ANALYST, HOSTILE, STRANGER, SUBSCRIBER, Clock, base, clock, csrf,  # noqa: F401
                       signed_in, store)


def _hostile_number(store: Store) -> int:
    return next(c.id for c in store.find_claims() if c.text == " ".join(HOSTILE.split()))


def _token(store: Store, number: int) -> str:
    token, _ = ledger.share(store, number, "ann", NOW)
    return token


PRIVATE = ["/claims", "/claims?status=all&tag=energy&analyst=bo&source=Beijing&q=gas", "/claims/1",
           "/claims/1/chart.svg", "/accuracy", "/accuracy?tag=example", "/accuracy.json",
           "/accuracy/calibration.svg", "/accuracy/brier.svg"]


@pytest.mark.parametrize("who", ["signed out", "subscriber", "analyst", "admin", "console user"])
def test_every_page_for_every_role(who: str, store: Store, base: str, clock: Clock) -> None:
    public = f"/p/{_token(store, 1)}"
    if who == "signed out":
        client = httpx.Client(base_url=base, follow_redirects=False)
    else:
        user = {"subscriber": SUBSCRIBER, "analyst": ANALYST, "admin": ADMIN, "console user": 0}[who]
        client = signed_in(store, base, clock, user, who)
    expected = {page: 401 if who == "signed out" else 200 for page in PRIVATE}
    expected["/feeds"] = {"signed out": 401, "subscriber": 403, "analyst": 403}.get(who, 200)
    expected[public] = expected[public + "/chart.svg"] = 200
    expected["/claims/9999"] = 401 if who == "signed out" else 404
    expected["/p/not-a-token"] = 404
    got = {page: client.get(page).status_code for page in expected}
    assert got == expected
    if who == "subscriber":
        page = client.get("/claims/1").text
        assert "<form" in page and 'action="/signout"' in page  # only signing out
        assert not re.search(r'action="/claims/\d+/(forecast|resolve|label)"', page)


def test_every_response_carries_the_security_headers(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    for page in ("/claims", "/claims/1", "/signin?token=x", "/static/claimwatch.css", "/nowhere", "/claims/1/chart.svg"):
        headers = client.get(page).headers
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-content-type-options"] == "nosniff"
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no script at all
        assert "default-src 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in client.get("/claims/1").headers["content-security-policy"]


def test_hostile_text_is_escaped_on_every_page(store: Store, base: str, clock: Clock) -> None:
    number = _hostile_number(store)
    client = signed_in(store, base, clock, ANALYST, "ann")
    pages = [f"/claims/{number}", "/claims?tag=x", "/claims?q=alert", "/accuracy", "/feeds",
             f"/p/{_token(store, number)}"]
    admin = signed_in(store, base, clock, ADMIN, "<b>admin</b>")
    for page in pages:
        text = (admin if page == "/feeds" else client).get(page).text
        assert "<script>" not in text and "<img src=x" not in text and "<b>bold" not in text, page
        assert "<b>admin</b>" not in text and "evil<b>" not in text
    shown = client.get(f"/claims/{number}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in shown
    assert "evil&lt;b&gt;" in shown  # the forecaster's name
    assert "secret" not in admin.get("/feeds").text  # a feed's password is never shown


def test_a_link_that_is_not_a_web_address_is_shown_as_text(store: Store, base: str, clock: Clock) -> None:
    claim = store.get_claim(3)
    store.update_claim(claim.with_changes(source=Source(title="t", url="javascript:alert(1)")),
                       Change(3, NOW, "import", "import", None, None))
    page = signed_in(store, base, clock, ANALYST, "ann").get("/claims/3").text
    assert "javascript:alert(1)" in page and 'href="javascript:' not in page


def test_a_form_without_its_csrf_token_changes_nothing(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    before = store.get_claim(3)
    for token in (None, "", "0" * 64):
        form = {"p": "70%"} | ({} if token is None else {"csrf": token})
        answer = client.post("/claims/3/forecast", data=form)
        assert answer.status_code == 403 and "nothing was changed" in answer.text
    other = signed_in(store, base, clock, ADMIN, "root")  # another session's token is no good either
    assert client.post("/claims/3/forecast", data={"p": "70%", "csrf": csrf(other, "/claims/3")}).status_code == 403
    assert store.get_claim(3) == before
    assert client.post("/claims/3/forecast", data={"p": "70%", "csrf": csrf(client, "/claims/3")}).status_code == 303
    assert store.get_claim(3).current_forecasts()[f"tg:{ANALYST}"].p == 0.7


def test_forecast_resolve_and_label_from_the_page(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    token = csrf(client, "/claims/4")
    answer = client.post("/claims/4/forecast", data={"p": "likely", "note": "talks go on", "csrf": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/claims/4?done=forecast"
    assert "Your forecast is recorded." in client.get(answer.headers["location"]).text
    forecast = store.get_claim(4).current_forecasts()[f"tg:{ANALYST}"]
    assert (forecast.by, forecast.note, forecast.at) == ("ann", "talks go on", NOW)
    clock.advance(hours=1)
    answer = client.post("/claims/4/resolve", data={"outcome": "false", "date": "2026-02-20", "note": "no",
                                                    "evidence": "https://news.example/x", "csrf": token})
    assert answer.status_code == 303
    outcome = store.get_claim(4).outcome
    assert outcome is not None and (outcome.value.value, str(outcome.event_date), outcome.evidence) == \
        ("false", "2026-02-20", ("https://news.example/x",))
    assert client.post("/claims/1/label", data={"evidence": "2", "stance": "contradicts", "csrf": token}).status_code == 303
    assert next(e for e in store.evidence_for(1) if e.seq == 2).stance == Stance.CONTRADICTS
    assert "label" in [c.action for c in store.history(1)]


@pytest.mark.parametrize(("path", "form", "said"), [
    ("/claims/3/forecast", {"p": "150%"}, "150%"),
    ("/claims/3/forecast", {"p": ""}, "probability"),
    ("/claims/2/forecast", {"p": "50%"}, "resolved"),
    ("/claims/3/resolve", {"outcome": "maybe"}, "not an outcome"),
    ("/claims/3/resolve", {"outcome": "true", "date": "2099-01-01"}, "future"),
    ("/claims/3/resolve", {"outcome": "true", "evidence": "ftp://x"}, "ftp"),
    ("/claims/3/resolve", {"outcome": "true", "evidence": "not a url"}, "'not a url' is not a web address"),
    ("/claims/3/resolve", {"outcome": "true", "evidence": "https://e.example/1 notes"}, "'notes' is not a web"),
    ("/claims/1/label", {"evidence": "9", "stance": "supports"}, "no evidence [9]"),
    ("/claims/1/label", {"evidence": "1", "stance": "great"}, "not a stance"),
])
def test_bad_input_from_a_form_says_why_in_one_line_and_changes_nothing(
        path: str, form: dict[str, str], said: str, store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    token = csrf(client, "/claims/1")
    before = fingerprint(store, NOW)
    answer = client.post(path, data=form | {"csrf": token})
    assert answer.status_code == 400
    error = re.search(r'<p class="error" role="alert">(.*?)</p>', answer.text, re.S)
    assert error is not None and "\n" not in error.group(1) and said in error.group(1).replace("&#39;", "'")
    assert fingerprint(store, NOW) == before


def test_a_refused_form_keeps_what_was_typed(store: Store, base: str, clock: Clock) -> None:
    """So that pressing the button again does not send something else (the current forecast, an empty note)."""
    client = signed_in(store, base, clock, ANALYST, "ann")
    token = csrf(client, "/claims/3")
    page = client.post("/claims/3/forecast", data={"p": "150%", "note": "talks <stall>", "csrf": token}).text
    assert 'name="p" required size="8" placeholder="70%" value="150%"' in page
    assert 'name="note" size="24" value="talks &lt;stall&gt;"' in page
    page = client.post("/claims/3/resolve", data={"outcome": "partial", "date": "2099-01-01", "note": "half",
                                                  "evidence": "https://e.example/1", "csrf": token}).text
    assert "<option selected>partial</option>" in page and 'value="2099-01-01"' in page
    assert 'value="https://e.example/1"' in page and 'value="half"' in page


def test_an_address_no_page_has_gets_a_page_saying_so(store: Store, base: str) -> None:
    answer = httpx.Client(base_url=base).get("/no/such/page")
    assert answer.status_code == 404 and "<!doctype html>" in answer.text.lower()
    assert "There is no page at this address; the claims are at /claims." in answer.text
    wrong = httpx.Client(base_url=base).post("/accuracy")
    assert wrong.status_code == 405 and "does not take that kind of request" in wrong.text
    assert answer.headers["content-security-policy"] == httpx.Client(base_url=base).get("/claims").headers[
        "content-security-policy"]  # the security headers, as on every page


def test_a_claim_that_does_not_exist_is_a_404(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    token = csrf(client, "/claims/1")
    assert client.post("/claims/999/forecast", data={"p": "50%", "csrf": token}).status_code == 404
    assert client.get("/claims/abc").status_code == 400


def test_a_subscriber_cannot_post_a_form_either(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, SUBSCRIBER, "sue")
    before = store.get_claim(3)
    answer = client.post("/claims/3/forecast", data={"p": "50%", "csrf": csrf(client, "/claims/3")})
    assert answer.status_code == 403 and "Only analysts may do that" in answer.text
    assert store.get_claim(3) == before


def test_the_accuracy_figures_are_those_of_stats_json(store: Store, base: str, clock: Clock, data: Path | str) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    for query, args in (("", ()), ("?tag=example", ("--tag", "example")), ("?analyst=bo", ("--by", "bo"))):
        cli = run_cli("stats", "--json", *args, data=data)
        assert cli.returncode == 0, cli.stderr
        figures = json.loads(cli.stdout)
        assert client.get(f"/accuracy.json{query}").json() == figures
        page = client.get(f"/accuracy{query}").text
        for key, value in (("n_claims", figures["n_claims"]), ("brier", f"{figures['brier']:.3f}"),
                           ("team.brier", f"{figures['team']['brier']:.3f}")):
            assert f'data-figure="{key}">{value}<' in page
        for name, f in figures["by_forecaster"].items():
            assert re.search(rf"<td>(<a [^>]*>)?{name}(</a>)?</td><td class=\"n\">{f['n']}</td><td class=\"n\">"
                             rf"{f['brier']:.3f}</td>", page)
    assert '<a href="/accuracy?analyst=bo"' in client.get("/accuracy").text  # each analyst's own calibration


def test_an_unknown_tag_or_analyst_is_said_beside_the_filters(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")
    answer = client.get("/claims?tag=energi")
    assert answer.status_code == 400 and "did you mean #energy" in answer.text and 'value="energi"' in answer.text
    assert client.get("/accuracy?analyst=nobody").status_code == 400
    assert client.get("/claims?status=closed").status_code == 400


def test_the_claims_table_filters_and_pages(store: Store, base: str, clock: Clock) -> None:
    client = signed_in(store, base, clock, ANALYST, "ann")

    def numbers(query: str) -> list[int]:
        return [int(n) for n in re.findall(r'<td><a href="/claims/(\d+)">#', client.get(f"/claims{query}").text)]

    assert numbers("") == [c.id for c in ledger.list_claims(store, ["open"], NOW.date())]
    assert numbers("?status=resolved") == [2]
    assert numbers("?tag=energy") == [c.id for c in ledger.list_claims(store, ["open", "#energy"], NOW.date())]
    assert numbers("?analyst=ann&status=all") == [1]
    assert numbers("?q=Siberia&status=all") == [c.id for c in ledger.list_claims(store, ["all", "Siberia"], NOW.date())]
    assert 2 not in numbers("?source=nowhere-such&status=all") and numbers("?source=nowhere-such") == []
    page = client.get("/claims?analyst=ann&status=all").text
    assert re.search(r"<td class=\"n\">72.5% <span class=\"note\">\(2\)</span></td>\s*<td class=\"n\">80%</td>", page)
    for i in range(60):
        ledger.add_claim(store, ledger.NewClaim(text=f"claim number {i}", tags=("bulk",)), "ann", NOW)
    first, second = numbers("?tag=bulk"), numbers("?tag=bulk&page=2")
    assert len(first) == 50 and len(second) == 10 and not set(first) & set(second)
    assert 'href="/claims?tag=bulk&amp;page=2"' in client.get("/claims?tag=bulk").text


def test_a_sign_in_link_works_once(store: Store, base: str, clock: Clock) -> None:
    link = ledger.sign_in_link(store, base, ANALYST, "ann", NOW)
    token = link.split("token=")[1]
    browser = httpx.Client(base_url=base)
    assert browser.get(link).status_code == 200 and browser.get(link).status_code == 200  # a preview uses nothing
    assert browser.post("/signin", data={"token": token}, follow_redirects=False).status_code == 303
    assert browser.get("/claims").status_code == 200
    again = httpx.Client(base_url=base).post("/signin", data={"token": token})
    assert again.status_code == 400 and "used already" in again.text
    assert httpx.Client(base_url=base).post("/signin", data={"token": "made-up"}).status_code == 400


def test_a_sign_in_link_for_someone_without_a_role_here_says_so_and_stays_good(store: Store, base: str) -> None:
    """A bot admin named in the bot's CLAIMWATCH_ADMINS but not this server's: no session that every page refuses."""
    token = ledger.sign_in_link(store, base, STRANGER, "bot admin", NOW).split("token=")[1]
    refused = httpx.Client(base_url=base).post("/signin", data={"token": token})
    assert refused.status_code == 400 and "this server gives you no role" in refused.text
    assert "set-cookie" not in refused.headers
    store.set_role(STRANGER, Role.SUBSCRIBER, "stranger", "admin", NOW)  # given a role meanwhile
    assert httpx.Client(base_url=base).post("/signin", data={"token": token}, follow_redirects=False).status_code == 303


def test_a_sign_in_link_expires_after_ten_minutes(store: Store, base: str, clock: Clock) -> None:
    early, late = (ledger.sign_in_link(store, base, ANALYST, "ann", NOW).split("token=")[1] for _ in range(2))
    clock.advance(minutes=9, seconds=59)
    assert httpx.Client(base_url=base).post("/signin", data={"token": early}).status_code == 303
    clock.advance(seconds=1)
    answer = httpx.Client(base_url=base).post("/signin", data={"token": late})
    assert answer.status_code == 400 and "expired" in answer.text


def test_the_session_cookie_and_its_end(store: Store, base: str, clock: Clock) -> None:
    token = ledger.sign_in_link(store, base, ANALYST, "ann", NOW).split("token=")[1]
    answer = httpx.Client(base_url=base).post("/signin", data={"token": token})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # served over http here
    client = signed_in(store, base, clock, ANALYST, "ann")
    store.set_role(ANALYST, None, "", "admin", NOW)  # a role taken away in chat ends the web's at once
    assert client.get("/claims").status_code == 401
    store.set_role(ANALYST, Role.ANALYST, "ann", "admin", NOW)
    assert client.get("/claims").status_code == 200
    assert client.post("/signout", data={"csrf": csrf(client, "/claims")}).status_code == 200
    assert client.get("/claims").status_code == 401
    later = signed_in(store, base, clock, ANALYST, "ann")
    clock.advance(days=15)
    assert later.get("/claims").status_code == 401


def test_the_cookie_is_secure_over_https(store: Store, base: str, clock: Clock) -> None:
    token = ledger.sign_in_link(store, base, ANALYST, "ann", NOW).split("token=")[1]
    answer = httpx.post(f"{base}/signin", data={"token": token}, headers={"x-forwarded-proto": "https"})
    assert "; secure" in answer.headers["set-cookie"].lower()


def _say(service: ChatService, user: int, text: str, chat_type: str = "private") -> str:
    return "\n".join(r.text for r in service.handle(Incoming(user, user, text, "ann", chat_type), NOW))


def test_web_in_chat_gives_a_one_time_link_in_private_only(store: Store, base: str, clock: Clock) -> None:
    service = ChatService(store, ChatSettings(UTC_TZ, frozenset({ADMIN}), public_url=base))
    reply = _say(service, SUBSCRIBER, "/web")
    link = re.search(r"(http://\S+/signin\?token=\S+)", reply)
    assert link is not None and "once, within 10 minutes" in reply
    token = link.group(1).split("token=")[1]
    client = httpx.Client(base_url=base)
    assert client.post("/signin", data={"token": token}, follow_redirects=False).status_code == 303
    assert "sue · subscriber" not in client.get("/claims").text  # the name it was asked for under
    assert "ann · subscriber" in client.get("/claims").text
    assert "private chat" in _say(service, SUBSCRIBER, "/web", chat_type="group")
    assert "invite-only" in _say(service, STRANGER, "/web")


def test_show_opens_in_the_browser_when_the_public_url_is_set(store: Store) -> None:
    service = ChatService(store, ChatSettings(UTC_TZ, public_url="https://claims.example.org"))
    replies = service.handle(Incoming(ANALYST, ANALYST, "/show 1", "ann"), NOW)
    urls = [b.url for row in replies[0].buttons for b in row if b.url]
    assert urls == ["https://claims.example.org/claims/1"]
    plain = ChatService(store, ChatSettings(UTC_TZ))
    assert not [b for row in plain.handle(Incoming(ANALYST, ANALYST, "/show 1", "ann"), NOW)[0].buttons
                for b in row if b.url]


def test_a_shared_claim_is_public_without_names_and_unsharing_ends_it(store: Store, base: str, clock: Clock) -> None:
    service = ChatService(store, ChatSettings(UTC_TZ, public_url=base))
    reply = _say(service, ANALYST, "/share 1")
    url = re.search(r"(http://\S+/p/\S+)", reply)
    assert url is not None and "without forecasters' names" in reply
    anyone = httpx.Client()
    page = anyone.get(url.group(1))
    assert page.status_code == 200 and "Summit talks go on" in page.text
    assert "forecaster 1" in page.text and "forecaster 2" in page.text
    assert ">ann<" not in page.text and ">bo<" not in page.text and "<form" not in page.text
    assert "History" not in page.text
    assert anyone.get(f"{url.group(1)}/chart.svg").headers["content-type"] == "image/svg+xml"
    assert "was already public" in _say(service, ANALYST, "/share 1")
    assert [c.action for c in store.history(1)].count("share") == 1
    ledger.set_team_setting(store, "public-names", "on")
    assert ">ann<" in anyone.get(url.group(1)).text
    ledger.set_team_setting(store, "hide-forecasts", "until-own")  # an open claim's forecasts: shown to nobody
    hidden = anyone.get(url.group(1)).text
    assert "80%" not in hidden and "2 forecasters' forecasts are not shown while the claim is open" in hidden
    one = ledger.add_claim(store, ledger.NewClaim(text="One forecast only"), "ann", NOW).id
    ledger.add_forecast(store, one, 0.4, "ann", NOW)
    admin = signed_in(store, base, clock, ADMIN, "root")  # has not forecast it
    assert "1 forecaster's forecast is hidden until you make your own" in admin.get(f"/claims/{one}").text
    ledger.set_team_setting(store, "hide-forecasts", "off")
    assert "private again" in _say(service, ANALYST, "/unshare 1")
    assert anyone.get(url.group(1)).status_code == 404
    assert "not shared" in _say(service, ANALYST, "/unshare 1")
    assert "for analysts" in _say(service, SUBSCRIBER, "/share 1")


def test_share_on_the_command_line(data: Path | str, store: Store) -> None:
    shared = run_cli("share", "2", data=data, env={"CLAIMWATCH_PUBLIC_URL": "https://claims.example.org"})
    assert shared.returncode == 0 and re.fullmatch(r"#2 is now public: https://claims\.example\.org/p/\S+\n",
                                                    shared.stdout)
    assert run_cli("unshare", "2", data=data).stdout == "#2 is private again: its public address no longer works\n"
    again = run_cli("unshare", "2", data=data)
    assert again.returncode == 2 and "not shared" in again.stderr


def test_serve_prints_a_one_time_admin_link_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_cli("examples", "load", data=data, examples=False).returncode == 0
    env = {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PYTHONIOENCODING": "utf-8",
           "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen([sys.executable, "-m", "claimwatch", "serve", "--listen", "127.0.0.1:0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first, second = server.stdout.readline(), server.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("claimwatch: the web view is at http://127.0.0.1:")
        link = second.rsplit(" ", 1)[1].strip()
        assert "sign in as tester (admin)" in second and "/signin?token=" in link
        browser = httpx.Client(timeout=30, follow_redirects=True)
        base = link.split("/signin")[0]
        assert browser.post(f"{base}/signin", data={"token": link.split("token=")[1]}).status_code == 200
        assert "tester · admin" in browser.get(f"{base}/feeds").text
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err


def test_serve_refuses_a_bad_address_in_one_line(tmp_path: Path) -> None:
    for listen in ("nowhere", "127.0.0.1:99999", "256.1.1.1:80"):
        answer = run_cli("serve", "--listen", listen, data=tmp_path / "data", examples=False)
        assert answer.returncode == 2 and answer.stderr.count("\n") == 1, answer.stderr
    assert not (tmp_path / "data").exists()


def test_templates_and_styles_are_in_the_wheel(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    import zipfile

    names = zipfile.ZipFile(next(tmp_path.glob("claimwatch-*.whl"))).namelist()
    for needed in ("claimwatch/templates/claim.html", "claimwatch/templates/base.html", "claimwatch/static/claimwatch.css"):
        assert needed in names


def test_alerts_carry_a_link_to_the_claims_page_when_the_public_url_is_set(store: Store) -> None:
    store.save_chat(Chat(555, "private", "reader"))
    store.subscribe(555, "all", NOW)
    ledger.resolve(store, 3, ledger.parse_outcome("true"), "ann", NOW)
    delivery.fan_out(store, NOW, UTC_TZ)
    (linked,) = delivery.next_batch(store, NOW, web_url="https://claims.example.org")
    assert [b.url for row in linked.buttons for b in row if b.url] == ["https://claims.example.org/claims/3"]
    (plain,) = delivery.next_batch(store, NOW)
    assert plain.text == linked.text and not [b for row in plain.buttons for b in row if b.url]


def test_web_in_the_console_signs_the_local_user_in_as_admin(data: Path | str, store: Store, base: str) -> None:
    console = run_cli("console", data=data, input="/web\n", env={"CLAIMWATCH_PUBLIC_URL": base})
    link = re.search(r"(http://\S+/signin\?token=\S+)", console.stdout)
    assert link is not None and "CLAIMWATCH_PUBLIC_URL is not set" not in console.stdout
    browser = httpx.Client(follow_redirects=True)
    assert browser.post(f"{base}/signin", data={"token": link.group(1).split("token=")[1]}).status_code == 200
    assert "tester · admin" in browser.get(f"{base}/feeds").text


def test_signing_in_leads_to_the_page_asked_for(store: Store, base: str) -> None:
    browser = httpx.Client(base_url=base)
    assert browser.get("/claims/3?done=x").status_code == 401  # a link from an alert, followed signed out
    token = ledger.sign_in_link(store, base, ANALYST, "ann", NOW).split("token=")[1]
    answer = browser.post("/signin", data={"token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/claims/3?done=x"
    again = ledger.sign_in_link(store, base, ANALYST, "ann", NOW).split("token=")[1]
    assert browser.post("/signin", data={"token": again}).headers["location"] == "/claims"  # once only
    elsewhere = httpx.Client(base_url=base, cookies={"claimwatch_after_sign_in": "//evil.example/x"})
    token = ledger.sign_in_link(store, base, ANALYST, "ann", NOW).split("token=")[1]
    assert elsewhere.post("/signin", data={"token": token}).headers["location"] == "/claims"
