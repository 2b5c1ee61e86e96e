"""The claims file format: validation against claims.schema.json, reading and writing.

`{"version": 1, "claims": [...]}`; each claim in the dict form of model.claim_to_dict.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from claimwatch import scores
from claimwatch.accuracy import score_claim
from claimwatch.errors import InputError
from claimwatch.model import Claim, Kind, OutcomeValue, claim_from_dict, claim_to_dict, iso, parse_datetime
from claimwatch.parsing import (
    clip,
    control_character,
    lone_surrogate,
    parse_name,
    parse_tags,
    parse_watch_terms,
    web_address,
    within_years,
)

FORMAT_VERSION = 1


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files("claimwatch").joinpath("claims.schema.json").read_text("utf-8"))


def bundled_claims_path() -> Path:
    """The example claims shipped with claimwatch (the top-level claims.json)."""
    return Path(str(resources.files("claimwatch").joinpath("claims.json")))


def load_file(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except ValueError as e:  # an integer of thousands of digits
        raise InputError(f"{path}: not a claims file ({clip(str(e))})") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a claims file") from None


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a probability")


def problems(doc: Any) -> list[str]:
    """Every problem in a claims document, each naming the claim's position and field; [] if valid.
    What depends on the store (links and event dates of what an import adds) ledger.import_claims checks."""
    import jsonschema  # here, not at the top: it takes longer to load than most commands take to run

    validator = jsonschema.Draft202012Validator(schema())
    by_field: dict[str, str] = {}  # the first problem of each field is enough to fix it
    for error in validator.iter_errors(doc):
        message = error.message
        if not isinstance(error.instance, str) and len(repr(error.instance)) > 80:  # strings: _clip_quoted
            message = message.replace(repr(error.instance), clip(repr(error.instance)))
        if error.validator == "pattern":  # a regex means nothing to users; say what is expected
            message = f"{error.instance!r} is not {error.schema.get('description', 'in the expected form')}"
        by_field.setdefault(_where(error.absolute_path), message)
    claims = doc.get("claims") if isinstance(doc, dict) else None
    seen_ids: dict[str, int] = {}
    for i, c in enumerate(claims if isinstance(claims, list) else []):
        if not isinstance(c, dict):
            continue
        outcome = c.get("outcome") if isinstance(c.get("outcome"), dict) else {}
        checks: list[tuple[str, Callable[[], object]]] = [
            ("source.published", lambda: (c.get("source") or {}).get("published") and _day(c["source"]["published"])),
            ("review_date", lambda: c.get("review_date") and _day(c["review_date"])),
            ("created", lambda: c.get("created") and _time(c["created"])),
            ("tags", lambda: parse_tags(c.get("tags") or [])),
            ("watch", lambda: c.get("watch") and parse_watch_terms(c["watch"])),
            ("outcome.event_date", lambda: outcome.get("event_date") and _day(outcome["event_date"])),
            ("outcome.at", lambda: outcome.get("at") and _time(outcome["at"])),
            ("p", lambda: _finite(c.get("p"))),
            ("text", lambda: _plain(c["text"], "a claim's text")),
            ("created_by", lambda: c.get("created_by") and parse_name(c["created_by"], "created_by")),
            ("outcome.by", lambda: outcome.get("by") and parse_name(outcome["by"], "the outcome's recorder")),
            ("created_who", lambda: _identity(c.get("created_who"))),
            ("outcome.who", lambda: _identity(outcome.get("who"))),
            ("archived.who", lambda: _identity((c.get("archived") or {}).get("who"))),
            ("number", lambda: _number(c.get("number"))),
        ]
        source = c.get("source") if isinstance(c.get("source"), dict) else {}
        checks += [(f"source.{key}", lambda key=key: source.get(key) and _plain(source[key], f"a source's {key}",
                                                                                  allow_whitespace=key == "quote"))
                   for key in ("title", "author", "quote")]
        forecasts = c.get("forecasts") if isinstance(c.get("forecasts"), list) else []
        checks += [(f"forecasts[{j}].at", lambda f=f: _time(f["at"])) for j, f in enumerate(forecasts)]
        checks += [(f"forecasts[{j}].p", lambda f=f: _finite(f["p"])) for j, f in enumerate(forecasts)]
        checks += [(f"forecasts[{j}].by", lambda f=f: parse_name(f["by"], "a forecaster's name"))
                   for j, f in enumerate(forecasts)]
        checks += [(f"forecasts[{j}].who", lambda f=f: _identity(f.get("who"))) for j, f in enumerate(forecasts)]
        for field, check in checks:
            where = f"claims[{i}].{field}"
            if any(known == where or known.startswith(where + "[") for known in by_field):
                continue  # the schema has said what is wrong here
            try:
                check()
            except (ValueError, InputError) as e:
                by_field[where] = str(e)
            except (TypeError, AttributeError, KeyError):
                pass  # a wrong shape, which the schema reports
        ext_id = c.get("id")
        if isinstance(ext_id, str) and ext_id:
            if ext_id in seen_ids:
                by_field[f"claims[{i}].id"] = f"{ext_id!r} is used by claims[{seen_ids[ext_id]}] too"
            seen_ids.setdefault(ext_id, i)
    for where, text in _strings(doc, ()):  # text that cannot be stored or would drive a terminal
        bad = lone_surrogate(text) or control_character(text, allow_whitespace=where[-1] in _MULTILINE)
        if bad:
            by_field.setdefault(_where(where), f"control characters and broken text are not allowed ({bad})")
    return [f"{where}: {_clip_quoted(message)}" for where, message in by_field.items()]


def _plain(text: str, what: str, allow_whitespace: bool = False) -> None:
    """A text shown to people holds no control characters (an ESC would colour the terminal it is printed on)."""
    bad = control_character(text, allow_whitespace=allow_whitespace)
    if bad:
        raise ValueError(f"{what} cannot hold control characters ({bad}): {clip(text)!r}")
_MULTILINE = ("quote", "note")  # fields whose text may have line breaks and tabs
MAX_NUMBER = 10_000_000  # an imported claim number; far above it, the next numbers could not be typed


def _strings(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string in a JSON document (keys too), with its path."""
    if isinstance(value, str):
        yield (path or ("",)), value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, (*path, "(a key)"))
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _day(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError as e:  # "day is out of range for month": the value, too
        raise ValueError(f"{text!r} is not a date ({e})") from None
    return within_years(day)


def _time(text: str) -> datetime:
    try:
        at = parse_datetime(text)
    except ValueError as e:
        raise ValueError(f"{text!r} is not a time ({e})") from None
    return within_years(at)


def _identity(value: Any) -> None:
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"tg:[0-9]{1,15}", value)):
        raise ValueError(f"{value!r} is not a person's identity: tg: and a Telegram user id, or left out")


def _number(value: Any) -> None:
    if type(value) is int and value > MAX_NUMBER:
        raise ValueError(f"a claim number above {MAX_NUMBER:,} is not kept: claims numbered after it could not be "
                         "typed; leave it out and claimwatch numbers the claim")


_QUOTED = re.compile(r"""(['"])(?:(?!\1)[^\\]|\\.){79,}\1""")  # a quoted value of 80 characters or more


def _clip_quoted(message: str) -> str:
    """`message` with each long quoted value in it cut to 80 characters."""
    return _QUOTED.sub(lambda m: clip(m.group(0), 79) + m.group(1), message)


def read_claims(doc: Any, now: datetime, by: str, skip: frozenset[int] = frozenset(), *,
                who: str = "") -> list[tuple[int, Claim]]:
    """(position, claim) for the claims of a document, but those at the positions `skip` (where problems() found
    something wrong); missing times default to `now`, authors to `by` (who is `who`: model._Acted)."""
    claims = []
    for i, c in enumerate(doc["claims"]):
        if i in skip:
            continue
        c = dict(c)
        if c.get("outcome"):
            given = {k: v for k, v in c["outcome"].items() if v is not None}
            if "by" not in given:  # resolved by nobody named: by the importer, as the importer (a lone `who` is dropped)
                given |= {"by": by, "who": who}
            c["outcome"] = {"at": iso(now), **given}
        c["tags"] = list(parse_tags(c.get("tags") or []))
        c["watch"] = list(parse_watch_terms(c["watch"]).terms()) if c.get("watch") else []
        claims.append((i, claim_from_dict(c, default_created=now, default_by=by, default_who=who)))
    return claims


def _json_array(items: Iterable[Any], depth: int) -> Iterator[str]:
    """A JSON array as json.dumps(..., ensure_ascii=False, indent=2) writes it `depth` levels in, an item at a
    time (a JSON text holds no raw line break, so indenting each line of an item is exact)."""
    pad = "\n" + "  " * (depth + 1)
    before = "["
    for item in items:
        yield before + pad + json.dumps(item, ensure_ascii=False, indent=2).replace("\n", pad)
        before = ","
    yield "[]" if before == "[" else "\n" + "  " * depth + "]"


def json_chunks(claims: Iterable[Claim], now: datetime) -> Iterator[str]:
    """The claims file of these claims, a claim at a time: what json.dumps writes of
    {"version", "exported", "claims"} with indent=2, without holding the whole."""
    yield (f'{{\n  "version": {json.dumps(FORMAT_VERSION)},\n  "exported": {json.dumps(iso(now), ensure_ascii=False)},'
           '\n  "claims": ')
    yield from _json_array((claim_to_dict(c) for c in claims), 1)
    yield "\n}\n"


CSV_COLUMNS = ["number", "id", "kind", "text", "source", "source_url", "created", "review_date", "tags",
               "claim_p", "status", "outcome", "event_date", "forecaster", "p", "forecast_at", "note", "counts", "brier"]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula gets a leading ' (OWASP's advice on CSV injection)."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_chunks(claims: Iterable[Claim], tz: ZoneInfo) -> Iterator[str]:
    """One row per forecast (a claim without forecasts gets one row with those columns empty), a claim's rows at
    a time.

    `counts` says whether the forecast is scored (its forecaster's last before the event) and
    `brier` gives its score, on resolved claims that are not void. Texts starting with = + - @, a tab or
    a carriage return are written with a leading ', so that spreadsheets show them rather than run them.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in claims:
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        head = [c.id, c.ext_id or "", c.kind.value, c.text, c.source.title, c.source.url, iso(c.created_at),
                iso(c.review_date) or "", " ".join(c.tags), "" if c.p is None else c.p, c.status,
                c.outcome.value.value if c.outcome else "", iso(c.outcome.event_date) or "" if c.outcome else ""]
        rows = score_claim(c.id, claim_to_dict(c), tz)
        counted = {(r.forecaster, r.at): r.brier for r in rows if r.kind == "analyst"}
        scored = c.outcome is not None and scores.outcome_code(c.outcome.value) is not None
        for f in c.forecasts or [None]:
            if f is None:
                writer.writerow([_cell(v) for v in head + [""] * 6])
                continue
            brier = counted.get((f.by, f.at))
            counts = "yes" if brier is not None else ("no" if scored else "")
            row = head + [f.by, f.p, iso(f.at), f.note, counts, "" if brier is None else round(brier, 6)]
            writer.writerow([_cell(v) for v in row])
    yield out.getvalue()


# schema.org ClaimReview ratings: 5 true, 3 partly true, 1 false (void claims are not reviewed)
RATINGS = {OutcomeValue.TRUE: (5, "True"), OutcomeValue.PARTIAL: (3, "Partly true"), OutcomeValue.FALSE: (1, "False")}


def reviewed(claim: Claim) -> bool:
    """Whether a claim has a ClaimReview: resolved, not void, of kind claim (a forecast's outcome is no fact check)."""
    return claim.outcome is not None and claim.outcome.value in RATINGS and claim.kind is Kind.CLAIM


def claimreview_chunks(claims: Iterable[Claim], tz: ZoneInfo) -> Iterator[str]:
    """schema.org ClaimReview JSON-LD for each claim that is `reviewed`, a review at a time. The claim's author is
    its source's author, never the source's title (that is where it appeared).

    Google's fact-check markup requires claimReviewed, reviewRating (with alternateName) and url; the
    url is the outcome's first evidence link, else the source's URL, else a claimwatch URN (links that are
    not web addresses, which imports keep as written, are skipped).
    """
    yield from _json_array((_claimreview(c, tz) for c in claims if reviewed(c)), 0)
    yield "\n"


def _claimreview(c: Claim, tz: ZoneInfo) -> dict[str, Any]:
    """One claim's ClaimReview (the claim is `reviewed`)."""
    assert c.outcome is not None
    value, name = RATINGS[c.outcome.value]
    url = (next((u for u in c.outcome.evidence if web_address(u)), None) or web_address(c.source.url)
           or f"urn:claimwatch:claim:{c.ext_id or c.id}")
    item: dict[str, Any] = {"@type": "Claim"}
    if c.source.author:
        item["author"] = {"@type": "Person", "name": c.source.author}
    if c.source.published:
        item["datePublished"] = iso(c.source.published)
    source_url = web_address(c.source.url)  # only an http(s) address is emitted as a URL
    if source_url or c.source.title:
        item["appearance"] = [{"@type": "CreativeWork", **({"url": source_url} if source_url else {}),
                               **({"headline": c.source.title} if c.source.title else {})}]
    review: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": url,
        "claimReviewed": c.text,
        "datePublished": iso(c.outcome.at.astimezone(tz).date()),
        "author": {"@type": "Person", "name": c.outcome.by or "claimwatch"},
        "reviewRating": {"@type": "Rating", "ratingValue": value, "bestRating": 5, "worstRating": 1,
                         "alternateName": name},
        "itemReviewed": item,
    }
    if c.outcome.note:
        review["reviewBody"] = c.outcome.note
    return review
