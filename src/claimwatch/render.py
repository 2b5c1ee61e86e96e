"""Claims, forecasts and the audit trail as text for people."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from claimwatch.model import Change, Claim, Evidence


def percent(p: float) -> str:
    return f"{p * 100:.1f}".rstrip("0").rstrip(".") + "%"


def when(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def review(claim: Claim, today: date) -> str:
    if claim.review_date is None:
        return "no review date"
    if claim.outcome is None and claim.review_date < today:
        return f"review {claim.review_date} (overdue)"
    if claim.outcome is None and claim.review_date == today:
        return f"review {claim.review_date} (today)"
    return f"review {claim.review_date}"


def claim_line(claim: Claim, today: date) -> str:
    tags = " ".join("#" + t for t in claim.tags)
    state = claim.outcome.value.value if claim.outcome else review(claim, today)
    return f"#{claim.id:<4} {claim.kind.value:<8} {state:<30} {claim.text}" + (f"  {tags}" if tags else "")


def claim_list(claims: list[Claim], today: date, empty: str = "no claims") -> str:
    return "\n".join(claim_line(c, today) for c in claims) if claims else empty


def claim_detail(claim: Claim, evidence: list[Evidence], today: date, tz: ZoneInfo) -> str:
    lines = [f"#{claim.id} {claim.kind.value}, {claim.status}, {review(claim, today)}"
             + (f"  [{claim.ext_id}]" if claim.ext_id else ""), claim.text]
    s = claim.source
    if s.title or s.url or s.author:
        parts = [x for x in (s.title, s.author, str(s.published or ""), s.url) if x]
        lines.append("Source: " + " · ".join(parts))
    if s.quote:
        lines.append(f"  “{s.quote}”")
    if claim.tags:
        lines.append("Tags: " + " ".join("#" + t for t in claim.tags))
    if claim.watch:
        lines.append("Watch: " + ", ".join(claim.watch))
    if claim.p is not None:
        lines.append(f"Source's probability: {percent(claim.p)}")
    lines.append(f"Recorded {when(claim.created_at, tz)} by {claim.created_by}")
    current = claim.current_forecasts()
    if current:
        lines.append("Forecasts (latest of each forecaster):")
        for f in sorted(current.values(), key=lambda f: f.at):
            lines.append(f"  {f.by}: {percent(f.p)} on {when(f.at, tz)}" + (f" — {f.note}" if f.note else ""))
    o = claim.outcome
    if o:
        happened = f", happened {o.event_date}" if o.event_date else ""
        lines.append(f"Outcome: {o.value.value}{happened}; recorded {when(o.at, tz)} by {o.by}"
                     + (f" — {o.note}" if o.note else ""))
        lines += [f"  evidence: {url}" for url in o.evidence]
    if evidence:
        lines.append(f"Evidence ({len(evidence)}, latest first):")
        for e in evidence[:5]:
            lines.append(f"  [{e.id}] {e.title} — {e.url} ({e.stance.value})")
    return "\n".join(lines)


def _describe(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    if "p" in value and "by" in value:  # a forecast
        return percent(value["p"]) + (f" — {value['note']}" if value.get("note") else "")
    if "value" in value:  # an outcome
        return value["value"] + (f" — {value['note']}" if value.get("note") else "")
    if "text" in value:  # a whole claim
        return value["text"]
    return ", ".join(f"{k} {v}" for k, v in value.items())


def change_line(change: Change, tz: ZoneInfo) -> str:
    after, before = _describe(change.after), _describe(change.before)
    what = after
    if before and after:
        what = f"{after} (was {before})"
    elif before:
        what = f"(was {before})"
    return f"{when(change.at, tz)}  {change.by:<12} {change.action:<9} {what}".rstrip()


def history(changes: list[Change], tz: ZoneInfo) -> str:
    return "\n".join(change_line(c, tz) for c in changes) if changes else "no changes recorded"
