"""Every chat command's arguments fuzzed: no exception escapes, errors say what is wrong, and a
command that answers with an error leaves the store exactly as it was."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimwatch import ledger
from claimwatch.chat import COMMANDS, ChatService, ChatSettings, Incoming
from claimwatch.model import OutcomeValue, Role
from claimwatch.store import open_store

from conftest import NOW, UTC_TZ

ADMIN = 1

fragments = st.one_of(
    st.text(max_size=30),
    st.integers(-5, 10**12).map(str),
    st.sampled_from(["1", "#1", "2", "3", "0", "-1", "999", "50%", "150%", "0.3", "likely", "true", "false",
                     "void", "yes", "maybe", "due", "p", "tags", "watch", "text", "source", "kind", "|", "!",
                     "2026-06-30", "2024-13-01", "in 3 months", "#energy", "#", "all", "analyst", "admin",
                     "subscriber", '"', "+", "-", "p:2", "p:0", "none", "https://e.org", "\x00", "<b>", "&"]),
)
arguments = st.lists(fragments, max_size=6).map(" ".join)


def fresh_service() -> ChatService:
    store = open_store(None)
    for i in (1, 2):
        ledger.add_claim(store, ledger.NewClaim(text=f"Claim {i}", tags=("energy",)), "seed", NOW)
    ledger.resolve(store, 2, OutcomeValue.TRUE, "seed", NOW)
    store.set_role(7, Role.ANALYST, "ana", "seed", NOW)
    return ChatService(store, ChatSettings(UTC_TZ, frozenset({ADMIN}), "invite", "claimwatch_test_bot"))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(sorted(COMMANDS)), args=arguments, pressed=st.booleans())
def test_fuzzed_command_arguments(command: str, args: str, pressed: bool) -> None:
    service = fresh_service()
    files = service.store.backend.files
    before = dict(files)
    replies = service.handle(Incoming(ADMIN, ADMIN, f"/{command} {args}", "admin", pressed=pressed), NOW)
    assert replies, "a private chat always gets an answer"
    assert all(r.text.strip() for r in replies)
    if any(r.text.startswith("⚠️") for r in replies):
        assert dict(files) == before, "a command that reports an error must change nothing"
        assert any("Usage:" in r.text for r in replies)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.one_of(fragments, st.sampled_from(["skip", "save", "/cancel"])), max_size=6))
def test_fuzzed_guided_add_never_fails(steps: list[str]) -> None:
    service = fresh_service()
    for step in ["/add", *steps]:
        replies = service.handle(Incoming(7, 7, step, "ana"), NOW)
        assert all(r.text.strip() for r in replies)
