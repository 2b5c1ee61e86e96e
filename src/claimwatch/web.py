"""The web view, `claimwatch serve`: claims, a claim's story, accuracy and feeds in a browser, over the same store
and ledger functions as the chat (the only module that imports starlette, uvicorn and jinja2).

Why Starlette rather than FastAPI: the pages are HTML rendered on the server and plain forms, not a JSON API, so
what FastAPI adds on top of Starlette (pydantic models, OpenAPI) would be weight never used; Starlette is the
small, well-kept ASGI toolkit FastAPI itself is built on, with routing, static files and a test client, and
uvicorn serves it. Jinja2 templates escape every value (autoescape), so no stored text becomes markup.

Signing in needs no password: `/web` in a private chat (or `claimwatch serve`, for the local user) makes a
one-time link. Opening it shows a button and changes nothing, so a chat's link preview cannot use it up; pressing
the button uses the link and starts a session, kept in the store by the hash of its cookie. The role is read
on every request where the chat reads it (ChatService.role_of), so a role taken away in chat takes effect at
once. Every form carries a token derived from the session (CSRF), and every action is checked by the chat's
own rule (chat.allowed) and done by the ledger's functions. Pages need no JavaScript, and the Content Security
Policy allows none; charts are SVG drawn on the server (charts.py), loaded as images.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claimwatch import accuracy, ledger, render
from claimwatch.chat import ChatService, ChatSettings, allowed, identity
from claimwatch.errors import InputError, NotFound, StoreError
from claimwatch.model import CONSOLE_CHAT, Claim, Role, source_to_dict
from claimwatch.parsing import parse_date, parse_probability, parse_url, shown_url, web_address
from claimwatch.store import Store

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "claimwatch_session"
AFTER_SIGN_IN = "claimwatch_after_sign_in"  # the page a signed-out visitor asked for, opened once they sign in
PAGE_SIZE = 50  # claims per page of the table
FORM_LIMIT = 64 * 1024  # bytes of a form: a note or a claim's worth, not a file
STATUSES = ("open", "due", "resolved", "all")
SUGGESTIONS_KEPT = timedelta(minutes=1)  # how long the filters' suggested tags and analysts may lag behind
HEADERS = {
    # No script at all; styles and images from this server only; forms post here only; never in a frame.
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}
# A chart is an SVG loaded as an <img>, where no script runs; matplotlib styles its elements inline.
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"
DONE = {"forecast": "Your forecast is recorded.", "resolve": "The outcome is recorded.",
        "label": "The evidence is labelled."}


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, with the role they hold now."""

    user_id: int
    name: str
    role: Role
    session: str  # the cookie's secret

    @property
    def identity(self) -> str:
        """Who they are for good, recorded beside their name (model._Acted.who)."""
        return identity(self.user_id)

    @property
    def who(self) -> str:
        """Their identity when asking "is this mine" (Forecast.forecaster, model._Acted.actor)."""
        return self.identity or self.name

    @property
    def csrf(self) -> str:
        """The token every form of theirs carries: only a page of this site, for this session, knows it."""
        return hmac.new(self.session.encode(), b"csrf", hashlib.sha256).hexdigest()

    def may(self, command: str) -> bool:
        return allowed(self.role, command)


class _Refused(Exception):
    """A request answered with a page saying why (status, one line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_SIGN_IN_FIRST = ("Sign in first: send /web to the claimwatch bot in a private chat (or run claimwatch serve on "
                  "this machine) for a one-time sign-in link.")


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port` as given to --listen."""
    host, _, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not (port.isascii() and port.isdecimal()) or int(port) > 65535:
        raise InputError(f"--listen {text!r}: give host:port, e.g. 127.0.0.1:8080")
    return host, int(port)


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class WebView:
    """The pages and actions, over a store; `clock` gives the time of each request."""

    def __init__(self, store: Store, settings: ChatSettings, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.roles = ChatService(store, settings)  # role_of: the chat's roles, read where the chat reads them
        self._lists: dict[tuple[Any, ...], list[Claim]] = {}
        self._cache_lock = threading.Lock()  # requests run in worker threads
        self._suggestions: tuple[Any, datetime | None, tuple[list[str], list[str]]] = (None, None, ([], []))
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      undefined=jinja2.StrictUndefined)
        self.env.filters |= {"percent": render.percent, "when": lambda at: render.when(at, settings.tz),
                             "num": _num, "link": web_address, "shown_url": shown_url}

    # --- plumbing ----------------------------------------------------------------------------------

    def app(self) -> Starlette:
        page = self._endpoint
        routes = [
            Route("/", page(lambda r, f: RedirectResponse("/claims", 303))),
            Route("/claims", page(self.claims)),
            Route("/claims/{number}", page(self.claim)),
            Route("/claims/{number}/chart.svg", page(self.claim_chart)),
            Route("/claims/{number}/forecast", page(self.forecast), methods=["POST"]),
            Route("/claims/{number}/resolve", page(self.resolve), methods=["POST"]),
            Route("/claims/{number}/label", page(self.label), methods=["POST"]),
            Route("/accuracy", page(self.accuracy)),
            Route("/accuracy.json", page(self.accuracy_json)),
            Route("/accuracy/calibration.svg", page(self.calibration_chart)),
            Route("/accuracy/brier.svg", page(self.brier_chart)),
            Route("/feeds", page(self.feeds)),
            Route("/signin", page(self.sign_in_page)),
            Route("/signin", page(self.sign_in), methods=["POST"]),
            Route("/signout", page(self.sign_out), methods=["POST"]),
            Route("/p/{token}", page(self.public)),
            Route("/p/{token}/chart.svg", page(self.public_chart)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        return Starlette(routes=routes, exception_handlers={404: self._no_route, 405: self._no_route})

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        """An address no page has, or a method it does not take: said on a page like any other."""
        status = getattr(exc, "status_code", 404)
        message = ("There is no page at this address; the claims are at /claims." if status == 404 else
                   "This page does not take that kind of request.")
        return await run_in_threadpool(self._message, request, status, message)

    def _endpoint(self, handler: Callable[[Request, dict[str, str]], Response]) -> Callable[[Request], Any]:
        """An ASGI endpoint running `handler` (which reads and writes the store, blocking) in a worker thread."""
        async def endpoint(request: Request) -> Response:
            try:
                form = await _read_form(request) if request.method == "POST" else {}
            except _Refused as e:
                return self._message(request, e.status, str(e))
            return await run_in_threadpool(self._answer, handler, request, form)
        return endpoint

    def _answer(self, handler: Callable[[Request, dict[str, str]], Response], request: Request,
                form: dict[str, str]) -> Response:
        try:
            return handler(request, form)
        except _Refused as e:
            answer = self._message(request, e.status, str(e))
            if e.status == 401 and request.method == "GET":  # signing in leads back here (a link from an alert)
                answer.set_cookie(AFTER_SIGN_IN, request.url.path + (f"?{request.url.query}" if request.url.query
                                                                     else ""), max_age=3600, httponly=True,
                                  secure=request.url.scheme == "https", samesite="lax")
            return answer
        except NotFound as e:
            return self._message(request, 404, str(e))
        except InputError as e:
            return self._message(request, 400, str(e))
        except StoreError as e:
            log.error("%s", e)
            return self._message(request, 503, "claimwatch cannot read or change its data right now; its admins can "
                                               "see why in its log.")

    def _page(self, request: Request, template: str, status: int = 200, *, viewer: Viewer | None | bool = True,
              **context: Any) -> HTMLResponse:
        """A template rendered for the viewer given (None: signed out; True, by default: whoever holds the session)."""
        if viewer is True:
            viewer = self._viewer(request)
        html = self.env.get_template(template).render(viewer=viewer, path=request.url.path, **context)
        return HTMLResponse(html, status)

    def _message(self, request: Request, status: int, message: str) -> HTMLResponse:
        titles = {400: "Not done", 401: "Sign in", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
                  503: "Unavailable"}
        return self._page(request, "message.html", status, title=titles.get(status, "claimwatch"), message=message)

    def _viewer(self, request: Request) -> Viewer | None:
        """Who holds this request's session, if anyone; None too when their role was taken away."""
        session = request.cookies.get(COOKIE, "")
        found = ledger.signed_in(self.store, session, self.clock())
        if found is None:
            return None
        role = self.roles.role_of(found[0])
        return None if role is None else Viewer(found[0], found[1], role, session)

    def _signed_in(self, request: Request) -> Viewer:
        viewer = self._viewer(request)
        if viewer is None:
            raise _Refused(401, _SIGN_IN_FIRST)
        return viewer

    def _acting(self, request: Request, form: dict[str, str], command: str) -> Viewer:
        """The signed-in viewer posting a form of this site, allowed the chat command it does."""
        viewer = self._signed_in(request)
        if not hmac.compare_digest(form.get("csrf", ""), viewer.csrf):
            raise _Refused(403, "This form is out of date or came from another site, so nothing was changed; "
                                "reload the page and try again.")
        if not viewer.may(command):
            raise _Refused(403, f"Only {allowed_role(command)}s may do that here, as in chat.")
        return viewer

    def _today(self) -> date:
        return self.clock().astimezone(self.settings.tz).date()

    # --- claims ------------------------------------------------------------------------------------

    def claims(self, request: Request, form: dict[str, str]) -> Response:
        viewer = self._signed_in(request)
        q = request.query_params
        filters = {key: " ".join(q.get(key, "").split()) for key in ("status", "tag", "analyst", "source", "q")}
        filters["status"] = filters["status"] or "open"
        if filters["status"] not in STATUSES:
            raise InputError(f"status {filters['status']!r}: use {', '.join(STATUSES)}")
        words = [filters["status"], *_scope_words(filters["tag"], filters["analyst"]), *filters["q"].split()]
        error = ""
        try:
            found = self._listed(words)
        except InputError as e:  # an unknown tag or analyst: said beside the filters, which stay as typed
            found, error = [], str(e)
        if filters["source"]:
            scope = accuracy.Scope(source_words=tuple(filters["source"].split()))
            found = [c for c in found if scope.keeps({"tags": c.tags, "source": source_to_dict(c.source)})]
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = _page_number(q.get("page", "1"), pages)
        rows = [self._row(c, viewer) for c in found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
        kept = {k: v for k, v in filters.items() if v and not (k == "status" and v == "open")}
        links = {n: "/claims?" + urlencode(kept | {"page": n}) for n in (page - 1, page + 1) if 1 <= n <= pages}
        tags, analysts = self._known()
        return self._page(request, "claims.html", 400 if error else 200, viewer=viewer, title="Claims", rows=rows,
                          filters=filters, statuses=STATUSES, total=len(found), page=page, pages=pages, links=links,
                          error=error, tags=tags, analysts=analysts)

    def _row(self, claim: Claim, viewer: Viewer) -> dict[str, Any]:
        seen, hidden = ledger.as_seen_by(self.store, claim, viewer.who)
        mine = claim.current_forecasts().get(viewer.who)
        return {"claim": claim, "state": claim.outcome.value.value if claim.outcome else
                render.review(claim, self._today()), "consensus": ledger.consensus(seen), "hidden": hidden,
                "forecasters": len(seen.current_forecasts()), "mine": mine.p if mine else None}

    def _listed(self, words: list[str]) -> list[Claim]:
        """ledger.list_claims, kept until any claim changes (or the day does): paging through a list reads it once."""
        key = (self.store.claims_version(), tuple(words), self._today())
        with self._cache_lock:
            found = self._lists.get(key)
        if found is None:
            found = ledger.list_claims(self.store, words, self._today())
            with self._cache_lock:
                if len(self._lists) >= 32:
                    self._lists.pop(next(iter(self._lists)))
                self._lists[key] = found
        return found

    def _known(self) -> tuple[list[str], list[str]]:
        """Every tag and every analyst's name, for the filters' suggestions: looked for again once claims changed,
        at most once a minute (they are only suggestions, and looking reads every claim)."""
        version, at, known = self._suggestions
        now = self.clock()
        if version != self.store.claims_version() and (at is None or now - at >= SUGGESTIONS_KEPT):
            tags, names = set(), set()
            for _, doc in self.store.claim_dicts():
                tags.update(doc["tags"])
                names.update(f["by"] for f in doc["forecasts"])
            known = (sorted(tags), sorted(names))
            self._suggestions = (self.store.claims_version(), now, known)
        return known

    def claim(self, request: Request, form: dict[str, str]) -> Response:
        viewer = self._signed_in(request)
        return self._claim_page(request, viewer, _number(request), done=request.query_params.get("done", ""))

    def _claim_page(self, request: Request, viewer: Viewer, number: int, *, error: str = "", done: str = "",
                    status: int = 200, typed: dict[str, dict[str, str]] | None = None) -> Response:
        """A claim's page; `typed`: what a refused form held, by its command, to show in it again."""
        claim = self.store.get_claim(number)
        seen, hidden = ledger.as_seen_by(self.store, claim, viewer.who)
        changes = ledger.history_as_seen_by(self.store, number, viewer.who)
        history = [render.change_line(c, self.settings.tz) for c in changes]
        token = self.store.share_token(number) if viewer.may("share") else None
        mine = claim.current_forecasts().get(viewer.who)
        return self._page(request, "claim.html", status, viewer=viewer, title=f"#{number}", **self._story(seen),
                          hidden=hidden, history=history, public=False, error=error, done=DONE.get(done, ""),
                          mine=mine.p if mine else None, chart=f"/claims/{number}/chart.svg",
                          share=f"{self.settings.web_url}/p/{token}" if token else "",
                          may_change=not (claim.outcome or claim.archived), typed=typed or {})

    def _story(self, claim: Claim) -> dict[str, Any]:
        """What a claim's page shows of it, signed in or public: the claim, its forecasts, outcome and evidence."""
        current = sorted(claim.current_forecasts().values(), key=lambda f: f.at)
        evidence = sorted(self.store.evidence_for(claim.id), key=lambda e: (e.published or e.found_at, e.id))
        return {"claim": claim, "current": current, "consensus": ledger.consensus(claim), "evidence": evidence,
                "today": self._today(), "review": render.review(claim, self._today()),
                "late": render.hindsight(claim, self.settings.tz),
                "withdrawn": sum(1 for f in claim.forecasts if f.withdrawn_at)}

    def claim_chart(self, request: Request, form: dict[str, str]) -> Response:
        viewer = self._signed_in(request)
        claim, _ = ledger.as_seen_by(self.store, self.store.get_claim(_number(request)), viewer.who)
        return _chart(claim)

    # --- acting ------------------------------------------------------------------------------------

    def _act(self, request: Request, form: dict[str, str], command: str, act: Callable[[Viewer, int], Any]) -> Response:
        """Do what a claim's form asks, as the chat command `command` would (its role, the ledger's function), then
        show the claim again; bad input is said on the claim's page, and changes nothing."""
        viewer = self._acting(request, form, command)
        number = self.store.get_claim(_number(request)).id
        try:
            act(viewer, number)
        except InputError as e:
            return self._claim_page(request, viewer, number, error=str(e), status=400, typed={command: form})
        return RedirectResponse(f"/claims/{number}?done={command}", 303)

    def forecast(self, request: Request, form: dict[str, str]) -> Response:
        def act(viewer: Viewer, number: int) -> None:
            ledger.add_forecast(self.store, number, parse_probability(form.get("p", "")), viewer.name, self.clock(),
                                form.get("note", ""), who=viewer.identity)
        return self._act(request, form, "forecast", act)

    def resolve(self, request: Request, form: dict[str, str]) -> Response:
        def act(viewer: Viewer, number: int) -> None:
            now = self.clock()
            value = ledger.parse_outcome(form.get("outcome", ""))
            event = parse_date(form["date"], now, self.settings.tz) if form.get("date", "").strip() else None
            typed = form.get("evidence", "").strip()
            if typed and not any(web_address(u) for u in typed.split()):  # no link at all: name what was typed
                parse_url(typed)
            links = tuple(parse_url(u) for u in typed.split())
            ledger.resolve(self.store, number, value, viewer.name, now, note=form.get("note", ""), event_date=event,
                           evidence=links, today=self._today(), who=viewer.identity)
        return self._act(request, form, "resolve", act)

    def label(self, request: Request, form: dict[str, str]) -> Response:
        def act(viewer: Viewer, number: int) -> None:
            seq = form.get("evidence", "")
            if not (seq.isascii() and seq.isdecimal()) or len(seq) > 9:
                raise InputError("say which evidence item to label")
            self.store.label_evidence(number, int(seq), ledger.parse_stance(form.get("stance", "")), viewer.name,
                                      self.clock(), who=viewer.identity)
        return self._act(request, form, "label", act)

    # --- accuracy and feeds ------------------------------------------------------------------------

    def _review(self, request: Request) -> tuple[dict[str, str], dict[str, Any]]:
        q = request.query_params
        filters = {key: " ".join(q.get(key, "").split()) for key in ("tag", "analyst", "source")}
        words = [*_scope_words(filters["tag"], filters["analyst"]), *filters["source"].split()]
        return filters, ledger.accuracy_review(self.store, self.settings.tz, ledger.parse_scope(words))

    def accuracy(self, request: Request, form: dict[str, str]) -> Response:
        viewer = self._signed_in(request)
        filters, result = self._review(request)
        query = urlencode({k: v for k, v in filters.items() if v})
        tags, analysts = self._known()
        return self._page(request, "accuracy.html", viewer=viewer, title="Accuracy", r=result, filters=filters,
                          summary=accuracy.summary_text(result).split("\n"), leaderboard=accuracy.leaderboard(result),
                          query=f"?{query}" if query else "", tags=tags, analysts=analysts)

    def accuracy_json(self, request: Request, form: dict[str, str]) -> Response:
        self._signed_in(request)
        return JSONResponse(self._review(request)[1])

    def calibration_chart(self, request: Request, form: dict[str, str]) -> Response:
        from claimwatch import charts  # matplotlib loads with the first chart

        self._signed_in(request)
        result = self._review(request)[1]
        return _svg(charts.calibration_svg(result["calibration"], accuracy.calibration_title(result)))

    def brier_chart(self, request: Request, form: dict[str, str]) -> Response:
        from claimwatch import charts

        self._signed_in(request)
        result = self._review(request)[1]
        return _svg(charts.brier_over_time_svg(accuracy.quarter_points(result),
                                               f"Brier score per quarter of the event ({result['scope']})"))

    def feeds(self, request: Request, form: dict[str, str]) -> Response:
        viewer = self._signed_in(request)
        if viewer.role != Role.ADMIN:
            raise _Refused(403, "The feeds' health is for admins.")
        return self._page(request, "feeds.html", viewer=viewer, title="Feeds", feeds=self.store.feeds())

    # --- signing in and out ------------------------------------------------------------------------

    def sign_in_page(self, request: Request, form: dict[str, str]) -> Response:
        token = request.query_params.get("token", "")
        if not token:
            raise _Refused(400, _SIGN_IN_FIRST)
        return self._page(request, "signin.html", title="Sign in", token=token)

    def sign_in(self, request: Request, form: dict[str, str]) -> Response:
        session, _, _ = ledger.sign_in(self.store, form.get("token", ""), self.clock(),
                                       lambda user_id: self.roles.role_of(user_id) is not None)
        wanted = request.cookies.get(AFTER_SIGN_IN, "")
        response = RedirectResponse(wanted if wanted.startswith("/") and not wanted.startswith("//")
                                    and "\\" not in wanted else "/claims", 303)
        response.delete_cookie(AFTER_SIGN_IN)
        response.set_cookie(COOKIE, session, max_age=int(ledger.SESSION_VALID.total_seconds()), httponly=True,
                            secure=request.url.scheme == "https", samesite="lax")
        return response

    def sign_out(self, request: Request, form: dict[str, str]) -> Response:
        viewer = self._signed_in(request)
        if not hmac.compare_digest(form.get("csrf", ""), viewer.csrf):
            raise _Refused(403, "This form is out of date or came from another site; reload the page and try again.")
        ledger.sign_out(self.store, viewer.session)
        response = self._page(request, "message.html", viewer=None, title="Signed out",
                              message="You are signed out. A new sign-in link (/web in chat) signs you in again.")
        response.delete_cookie(COOKIE, httponly=True, samesite="lax")
        return response

    # --- public pages ------------------------------------------------------------------------------

    def _shared(self, request: Request) -> tuple[Claim, int]:
        number = self.store.shared_claim(request.path_params["token"])
        claim = self.store.get_claim(number) if number is not None else None
        if claim is None or claim.archived:
            raise _Refused(404, "There is no public page here (it may have been taken away).")
        return ledger.public_claim(self.store, claim)

    def public(self, request: Request, form: dict[str, str]) -> Response:
        claim, hidden = self._shared(request)
        return self._page(request, "claim.html", title=f"#{claim.id}", **self._story(claim), hidden=hidden, history=[],
                          public=True, error="", done="", mine=None, share="", may_change=False,
                          chart=f"/p/{request.path_params['token']}/chart.svg")

    def public_chart(self, request: Request, form: dict[str, str]) -> Response:
        return _chart(self._shared(request)[0])


def allowed_role(command: str) -> str:
    """The least role that may run a chat command, as a word ("analyst")."""
    return next(role.value for role in Role if allowed(role, command))


def _chart(claim: Claim) -> Response:
    """A claim's forecasts over time as an SVG chart, as the claim's page shows it."""
    from claimwatch import charts  # matplotlib loads with the first chart

    lines: dict[str, list[tuple[datetime, float]]] = {}
    names: dict[str, str] = {}
    for f in sorted(claim.forecasts, key=lambda f: f.at):
        if f.withdrawn_at is None:
            lines.setdefault(f.forecaster, []).append((f.at, f.p))
            names[f.forecaster] = f.by  # the name they last forecast under
    o = claim.outcome
    event = (o.event_date or o.at.date(), o.value.value) if o else None
    return _svg(charts.forecasts_svg({names[k]: v for k, v in lines.items()}, ledger.consensus_over_time(claim),
                                     event, f"#{claim.id}: forecasts over time"))


def _svg(body: bytes) -> Response:
    return Response(body, media_type="image/svg+xml", headers={"content-security-policy": CHART_CSP,
                                                               "cache-control": "private, no-cache"})


def _scope_words(tag: str, analyst: str) -> list[str]:
    """A tag and an analyst from a page's filters as the chat's /list and /stats take them: #tag, @analyst."""
    return ([f"#{tag.lstrip('#')}"] if tag else []) + ([f"@{analyst.lstrip('@')}"] if analyst else [])


def _number(request: Request) -> int:
    return ledger.parse_claim_number(request.path_params["number"])


def _page_number(text: str, pages: int) -> int:
    if not (text.isascii() and text.isdecimal()) or len(text) > 9:
        raise InputError(f"page {text!r}: give a page number")
    return min(max(1, int(text)), pages)


async def _read_form(request: Request) -> dict[str, str]:
    """A posted form (URL-encoded, at most FORM_LIMIT bytes of UTF-8): each field's first value."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise _Refused(400, "Send the page's form as it is.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise _Refused(413, "That form is too large.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise _Refused(400, "That form is not UTF-8 text.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


class SecurityHeaders:
    """Every response gets HEADERS (a response that sets one of them itself keeps its own), and a Server-Timing
    header saying how long the server took to answer (what bench/web_bench.py reads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers.setdefault(key, value)
                headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            await send(message)

        await self.app(scope, receive, sending)


def make_app(store: Store, settings: ChatSettings, clock: Callable[[], datetime]) -> ASGIApp:
    """The web view as an ASGI application."""
    return SecurityHeaders(WebView(store, settings, clock).app())


def listen_socket(listen: str) -> socket.socket:
    """A socket bound to `host:port` (port 0: any free one), or an InputError saying why not."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections accepted from it inherit this: a response's headers and body, written apart, go at once (without
    # it, a reused connection's second request waited about 40 ms for the client's delayed acknowledgement).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {listen}: {e.strerror or e}") from None
    sock.listen(128)  # from here, connections wait for the server rather than being refused
    return sock


def serve(store: Store, settings: ChatSettings, listen: str, user: str, clock: Callable[[], datetime],
          say: Callable[[str], None], log_level: str = "warning") -> int:
    """Serve the web view until interrupted, first saying where and giving the local user a one-time admin link."""
    sock = listen_socket(listen)
    # As the bot does: read the claims and the evidence once, then exempt what was read from the cyclic garbage
    # collector (long-lived, acyclic data), whose full collections rescanning it stalled a page now and then.
    store.find_claims()
    store.evidence_between(datetime.min.replace(tzinfo=UTC), clock())
    gc.freeze()
    host, port = sock.getsockname()[:2]
    local = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    link = ledger.sign_in_link(store, local, CONSOLE_CHAT, user, clock())
    minutes = int(ledger.SIGN_IN_VALID.total_seconds() // 60)
    say(f"claimwatch: the web view is at {local}/ (Ctrl-C stops it)")
    say(f"claimwatch: sign in as {user} (admin) with this link, once, within {minutes} minutes: {link}")
    config = uvicorn.Config(make_app(store, settings, clock), log_level=log_level, access_log=False,
                            proxy_headers=True, server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C, then raises it again: a normal end here
        pass
    return 0
