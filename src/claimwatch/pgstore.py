"""The PostgreSQL store: the same store (store.Store) as the data directory, in a relational schema.

`CLAIMWATCH_DATA=postgresql://user@host/db` selects it (open_store). What it is built on:

- A real schema (SCHEMA below): claims, sources, forecasts, outcomes, audit, evidence, alert events, users,
  invites, chats, subscriptions, team settings, feeds with their leases, seen entries, recent news, the
  outbox and its state. Keys, foreign keys (a claim's rows go with it), checks on every closed set of
  values, and the indexes the queries use. Times are timestamptz, read back in UTC.
- Schema migrations are numbered (MIGRATIONS[n] turns schema n into n + 1; the first creates it) and
  applied at start in one transaction, DDL included: all of them or none. A schema newer than this
  claimwatch is refused, as a newer data directory is.
- Every write is one database transaction. Write transactions take one advisory lock first, so writers
  take turns exactly as they do on the files (the ledger's rules read, decide and write inside one
  transaction, and stay correct with any number of processes); reads take no lock and see the last
  committed state. A transaction holds its lock for milliseconds: what takes time (fetching feeds,
  talking to Telegram) happens outside.
- Feeds are leased to watch workers with FOR UPDATE SKIP LOCKED, outside the writers' lock, so any
  number of workers share them and a killed worker's feeds come back when its leases expire.
- Connections come from psycopg's pool, one pool per server and database in a process; a location may
  name a schema (`?options=-csearch_path%3Dname`), which is created when missing: each store sets it on
  the connections it uses, so the stores of several schemas share a pool (the tests use one per test).

This is the only module that imports psycopg.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Json, Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from claimwatch.errors import InputError, NotFound, StoreError
from claimwatch.model import (
    ALERT_KINDS,
    Change,
    Chat,
    Claim,
    Evidence,
    Feed,
    NewsItem,
    Role,
    Stance,
    Subscription,
    User,
    claim_from_dict,
    claim_to_dict,
    iso,
    iso_utc,
    who_field,
)
from claimwatch.parsing import feed_key
from claimwatch.store import LEASE, RECENT_DAYS, RECENT_LIMIT, SHARD_SIZE, ClaimFilter, StoreBase, evidence_key

SCHEMA = """
create table meta (key text primary key, value bigint not null);
create table claims (
    number integer primary key check (number > 0),
    ext_id text,
    kind text not null check (kind in ('claim', 'forecast')),
    text text not null,
    created_at timestamptz not null,
    created_by text not null,
    review_date date,
    p double precision check (p between 0 and 1),
    tags text[] not null default '{}',
    watch text[] not null default '{}',
    archived_at timestamptz,
    archived_by text,
    archived_reason text,
    changed bigint not null,  -- meta claims_changes when it was last written: what a reader's cache must fetch again
    check ((archived_at is null) = (archived_by is null))
);
create index claims_changed on claims (changed);
create index claims_ext_id on claims (ext_id) where ext_id is not null;
create index claims_review on claims (review_date) where archived_at is null;
create index claims_tags on claims using gin (tags);
create table sources (
    claim integer primary key references claims on delete cascade,
    title text not null, url text not null, author text not null, published date, quote text not null
);
create table forecasts (
    claim integer not null references claims on delete cascade,
    seq integer not null,
    by_name text not null,
    who text not null,
    p double precision not null check (p between 0 and 1),
    at timestamptz not null,
    note text not null,
    withdrawn_at timestamptz,
    primary key (claim, seq)
);
create index forecasts_by on forecasts (by_name);
create table outcomes (
    claim integer primary key references claims on delete cascade,
    value text not null check (value in ('true', 'false', 'partial', 'void')),
    at timestamptz not null,
    by_name text not null,
    event_date date,
    note text not null,
    evidence text[] not null
);
create table audit (
    id bigserial primary key,
    claim integer not null references claims on delete cascade,
    at timestamptz not null,
    by_name text not null,
    action text not null,
    before json,
    after json
);
create index audit_claim on audit (claim, at);
create table evidence (
    id bigserial primary key,
    claim integer not null references claims on delete cascade,
    seq integer not null check (seq > 0),
    url text not null,
    title text not null,
    feed text not null,
    published timestamptz,
    found_at timestamptz not null,
    matched text[] not null,
    stance text not null check (stance in ('supports', 'contradicts', 'irrelevant', 'unlabelled')),
    words text[] not null,
    backfill boolean not null,
    unique (claim, seq)
);
create unique index evidence_by_link on evidence (claim, md5(url)) where url <> '';
create unique index evidence_by_title on evidence (claim, feed, md5(title)) where url = '';
create index evidence_found on evidence (found_at);
create table alert_events (
    id bigserial primary key,
    kind text not null,
    claim integer not null references claims on delete cascade,
    created timestamptz not null,
    fields jsonb not null
);
create table users (
    id bigint primary key,
    name text not null,
    role text not null check (role in ('admin', 'analyst', 'subscriber')),
    granted_by text not null,
    granted_at timestamptz not null
);
create table invites (
    token text primary key,
    role text not null check (role in ('admin', 'analyst', 'subscriber')),
    created_by text not null,
    created_at timestamptz not null,
    used_by bigint,
    used_at timestamptz
);
create table chats (
    id bigint primary key,
    type text not null,
    title text not null,
    active boolean not null,
    reason text not null,
    changed_at timestamptz,
    digest text not null,
    digest_at time not null,
    tz text not null,
    muted integer[] not null,
    nudges boolean not null
);
create table subscriptions (
    id bigserial primary key,
    chat bigint not null,
    target text not null,
    since timestamptz not null,
    kinds text[] not null,
    unique (chat, target)
);
create table settings (key text primary key, value text not null);
create table feeds (
    id integer primary key check (id > 0),
    address text not null,
    url text not null,
    name text not null,
    added_at timestamptz not null,
    added_by text not null,
    enabled boolean not null,
    disabled_reason text not null,
    etag text,
    last_modified text,
    last_success timestamptz,
    last_error_at timestamptz,
    error text not null,
    failures integer not null,
    next_check timestamptz,
    entries_seen integer not null,
    ttl_minutes integer,
    leased_by text,
    leased_until timestamptz
);
create index feeds_address on feeds (address);
create index feeds_due on feeds (next_check) where enabled;
create table seen_entries (
    feed integer not null references feeds on delete cascade,
    key text not null,
    hash text not null,
    seen_at timestamptz not null,
    primary key (feed, key)
);
create table news (
    id bigserial primary key,
    feed text not null,
    link text not null,
    title text not null,
    summary text not null,
    published timestamptz not null
);
create unique index news_key on news (md5(feed), md5(link), md5(title));
create index news_published on news (published);
create table outbox (
    id bigserial primary key,
    key text not null unique,
    chat bigint not null,
    kind text not null,
    claim integer,
    title text not null,
    line text not null,
    created timestamptz not null,
    status text not null check (status in ('pending', 'sent', 'dropped')),
    attempts integer not null,
    next_try timestamptz not null,
    sent_at timestamptz,
    error text not null,
    extra jsonb not null
);
create index outbox_chat on outbox (chat);
create index outbox_pending on outbox (next_try) where status = 'pending';
create table outbox_state (key text primary key, value jsonb not null);
insert into meta values ('claims_changes', 0);
"""

# The web view (store.WebStore): one-time sign-in links and sessions by the hash of their secret; public pages.
WEB_SCHEMA = """
create table sign_ins (
    key text primary key,
    user_id bigint not null,
    name text not null,
    expires timestamptz not null,
    created timestamptz not null,
    used timestamptz
);
create table sessions (
    key text primary key,
    user_id bigint not null,
    name text not null,
    expires timestamptz not null,
    created timestamptz not null
);
create table shared_claims (
    claim integer primary key references claims on delete cascade,
    token text not null unique,
    by_name text not null,
    at timestamptz not null
);
"""

# Due claims by an index-only scan: the review date and number of every live claim, in the index itself (reading the
# numbers of 5,000 due claims of 100,000 from the table's pages took 17-20 ms, from this index about 1 ms).
DUE_INDEX = """
create index claims_due on claims (review_date, number) where archived_at is null;
drop index claims_review;
"""

# Schema 3 -> 4: who recorded a claim, resolved, deleted or changed it is kept by identity too (model._Acted), as
# forecasts always were here; what was done before is attributed by the rule of the data directory's migration
# (store._telegram_identities): a name kept as "first last (id)" holds the id, else a @username is the name one user
# with a role was granted it under; any other name stays a command-line name (''). A forecast's entry in the audit
# trail takes the identity its forecast has held here from the start.
ACTORS_SCHEMA = r"""
create function pg_temp.telegram_identity(name text) returns text language sql stable as $$
    select coalesce((select 'tg:' || m[1] from regexp_match(name, '^.*\(([0-9]{1,15})\)$') as m),
                    (select 'tg:' || min(u.id) from users u where u.name = telegram_identity.name having count(*) = 1),
                    '')
$$;
alter table claims add column created_who text not null default '';
alter table claims add column archived_who text;
alter table outcomes add column who text not null default '';
alter table audit add column who text not null default '';
update claims set created_who = pg_temp.telegram_identity(created_by);
update claims set archived_who = pg_temp.telegram_identity(archived_by) where archived_by is not null;
update outcomes set who = pg_temp.telegram_identity(by_name);
update audit set who = case when action in ('forecast', 'withdraw') then coalesce(after ->> 'who', '')
                             else pg_temp.telegram_identity(by_name) end;
drop function pg_temp.telegram_identity(text);
"""

SCHEMA_VERSION = 4  # 2: the web view's tables; 3: the due index; 4: who did what, by identity (ACTORS_SCHEMA)
# schema version N -> the statements that turn a version N database into version N + 1 (0: an empty one)
MIGRATIONS: dict[int, str] = {0: SCHEMA, 1: WEB_SCHEMA, 2: DUE_INDEX, 3: ACTORS_SCHEMA}


_MESSAGE_FIELDS = ("key", "chat", "kind", "claim", "title", "line", "created", "status", "attempts", "next_try",
                   "sent_at", "error")
_MESSAGE_TIMES = ("created", "next_try", "sent_at")
_FEED_FIELDS = ("url", "name", "added_at", "added_by", "enabled", "disabled_reason", "etag", "last_modified",
                "last_success", "last_error_at", "error", "failures", "next_check", "entries_seen", "ttl_minutes")
_CLAIM_ROWS = """
select c.number, c.ext_id, c.kind, c.text, c.created_at, c.created_by, c.created_who, c.review_date, c.p, c.tags,
       c.watch, c.archived_at, c.archived_by, c.archived_who, c.archived_reason,
       s.title, s.url, s.author, s.published, s.quote,
       o.value, o.at, o.by_name, o.who, o.event_date, o.note, o.evidence
from claims c left join sources s on s.claim = c.number left join outcomes o on o.claim = c.number
"""


def _claim_rows(where: sql.Composable, order: sql.Composable) -> sql.Composed:
    return sql.SQL(_CLAIM_ROWS) + sql.SQL(" where ") + where + sql.SQL(" order by ") + order


_cursors = itertools.count()  # names of server-side cursors, each its own (one may be open while another is)
_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def _said(error: Exception) -> str:
    """What the server or driver said, in one line (libpq adds hints on lines of their own)."""
    return " ".join(line.strip() for line in str(error).strip().splitlines())


def _split(location: str) -> tuple[str, str]:
    """The connection string without a search_path option, and the schema it named (public by default)."""
    try:
        params = conninfo_to_dict(location)
    except psycopg.ProgrammingError as e:
        raise StoreError(f"CLAIMWATCH_DATA (or --to) is not a valid PostgreSQL address: {e}") from None
    options = params.pop("options", "") or ""
    kept, schema = [], "public"
    for option in options.split():
        name, _, value = option.removeprefix("-c").partition("=")
        if name.strip() == "search_path":
            schema = value.strip()
        else:
            kept.append(option)
    if kept:
        params["options"] = " ".join(kept)
    return make_conninfo(**params), schema


def shown(location: str) -> str:
    """A location as it may be printed: without its password."""
    try:
        params = conninfo_to_dict(location)
    except psycopg.ProgrammingError:
        return "the PostgreSQL address"
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    return f"postgresql://{params['user'] + '@' if params.get('user') else ''}{where}"


def _pool(conninfo: str) -> ConnectionPool:
    with _pools_lock:
        pool = _pools.get(conninfo)
        if pool is None:
            try:  # one plain connection first: a server that is not there is a one-line error, at once
                psycopg.connect(conninfo, connect_timeout=5).close()
            except psycopg.OperationalError as e:
                raise StoreError(f"cannot connect to PostgreSQL at {shown(conninfo)}: "
                                 f"{_said(e)}") from None
            pool = _pools[conninfo] = ConnectionPool(
                conninfo, min_size=1, max_size=8, timeout=30, open=True, name="claimwatch",
                kwargs={"autocommit": True}, configure=lambda conn: conn.execute("set timezone to 'UTC'"))
        return pool


class PgStore(StoreBase):
    """store.Store over a PostgreSQL database (see the module docstring)."""

    migrated_backup: str | None = None  # the migrations are transactional: nothing to back up

    def __init__(self, location: str, *, schema_version: int = SCHEMA_VERSION,
                 migrations: dict[int, str] | None = None, once: bool = False) -> None:
        conninfo, self.schema = _split(location)
        self._once = once  # reading once (see store.open_store): claims are read for each listing, not cached
        self._conninfo = conninfo
        self.location = shown(location)
        self._pool = _pool(conninfo)
        self._local = threading.local()
        self._cache: dict[int, tuple[dict[str, Any], list[Claim]]] = {}  # see _cached
        self._cache_version = self._cache_purged = -1
        self._cache_lock = threading.Lock()
        self._open(schema_version, MIGRATIONS if migrations is None else migrations)

    def vacuum(self) -> None:
        """VACUUM (ANALYZE) every table of this store's schema: the planner learns the tables' sizes, and the
        visibility map lets due claims be read from their index alone (claims_due). Autovacuum does the same in
        time, where it is on (PostgreSQL's default); migrate runs it at once after a copy."""
        tables = [t for (t,) in self._rows("select tablename from pg_tables where schemaname = current_schema()")]
        with self._conn() as conn:  # autocommit: VACUUM cannot run inside a transaction
            for table in tables:
                conn.execute(sql.SQL("vacuum (analyze) {}").format(sql.Identifier(table)))

    # --- connections and transactions ----------------------------------------------------------

    def _use_schema(self, conn: psycopg.Connection[Any]) -> None:
        if getattr(conn, "_claimwatch_schema", None) != self.schema:
            conn.execute(sql.SQL("set search_path to {}").format(sql.Identifier(self.schema)))
            conn._claimwatch_schema = self.schema  # type: ignore[attr-defined]

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection of this thread's transaction, or one from the pool for a read."""
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        try:
            with self._pool.connection() as conn:
                self._use_schema(conn)
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as e:
            raise StoreError(f"PostgreSQL at {self.location}: {_said(e)}") from None

    def _rows(self, query: str | sql.Composed, params: Any = None) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(query, params).fetchall()

    def _one(self, query: str | sql.Composed, params: Any = None) -> tuple[Any, ...] | None:
        with self._conn() as conn:
            return conn.execute(query, params).fetchone()

    def _run(self, query: str | sql.Composed, params: Any = None) -> int:
        """Run a statement inside the current transaction; how many rows it changed."""
        conn = self._local.conn
        return conn.execute(query, params).rowcount

    def _run_many(self, query: str, rows: Iterable[Any]) -> None:
        rows = list(rows)
        if rows:
            with self._local.conn.cursor() as cur:
                cur.executemany(query, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One database transaction, holding the writers' lock; nested calls join the outer one."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._conn() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext(current_schema()))")
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def close(self) -> None:
        """Release this store's own connections, and with them the roles it holds (the pool is the process's, shared
        by the stores on one database); the store stays usable, and connects again when asked to listen or hold."""
        for name in ("_listener", "_role_conn"):
            if (conn := getattr(self, name, None)) is not None:
                conn.close()
                setattr(self, name, None)

    # --- announcements and roles -----------------------------------------------------------------

    def _announce(self, what: str) -> None:
        """Tell listening processes, once this transaction commits, that there is `what` (see announcements)."""
        self._run("select pg_notify('claimwatch', %s)", (f"{self.schema}:{what}",))

    def announcements(self, timeout: float) -> set[str]:
        """Wait up to `timeout` seconds for another process to write what workers act on: "alerts" (new alert
        events to fan out), "outbox" (new messages to send); what was announced, or nothing (LISTEN/NOTIFY)."""
        if (listener := getattr(self, "_listener", None)) is None:
            listener = self._listener = psycopg.connect(self._conninfo, autocommit=True)
            listener.execute("listen claimwatch")
        heard: set[str] = set()
        try:
            for note in listener.notifies(timeout=timeout, stop_after=1):
                schema, _, what = note.payload.rpartition(":")
                if schema == self.schema:
                    heard.add(what)
        except psycopg.OperationalError:  # the server went away, or close() ended the wait: listen again next time
            listener.close()
            if self._listener is listener:
                self._listener = None
        return heard

    def hold_role(self, role: str) -> bool:
        """Whether this process holds `role` (such as "sender") among all processes on this database, taking it
        if it is free: a session advisory lock on a connection of its own, so the role is let go when the
        process dies (its connection closes) and another process's next call takes it."""
        conn = getattr(self, "_role_conn", None)
        if conn is not None and not conn.closed:
            try:
                conn.execute("select 1")
                return True
            except psycopg.OperationalError:
                conn.close()
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
            held = conn.execute("select pg_try_advisory_lock(hashtext(%s))", (f"{self.schema}:{role}",)).fetchone()[0]
        except psycopg.OperationalError as e:
            raise StoreError(f"PostgreSQL at {self.location}: {_said(e)}") from None
        if not held:
            conn.close()
            return False
        self._role_conn = conn
        return True

    # --- schema --------------------------------------------------------------------------------

    def _open(self, schema_version: int, migrations: dict[int, str]) -> None:
        with self._conn() as conn:
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(self.schema)))
        if self._stored_schema() == schema_version:
            return
        with self.transaction():
            version = self._stored_schema()
            if version is None:
                tables = self._one("select count(*) from pg_tables where schemaname = current_schema()")
                if tables and tables[0]:
                    raise StoreError(f"the database {self.location} (schema {self.schema}) holds tables but no "
                                     "claimwatch schema version; is it a claimwatch database?")
                version = 0
            if version > schema_version:
                raise StoreError(f"the data was written by a newer claimwatch (schema {version}, "
                                 f"this one reads {schema_version}); upgrade claimwatch")
            for step in range(version, schema_version):
                if step not in migrations:
                    raise StoreError(f"no migration from schema {step} to {step + 1}")
                self._run(migrations[step])
                self._run("insert into meta values ('schema', %s) on conflict (key) do update set value = %s",
                          (step + 1, step + 1))

    def _stored_schema(self) -> int | None:
        with self._conn() as conn:
            if conn.execute("select to_regclass('meta')").fetchone()[0] is None:
                return None
            row = conn.execute("select value from meta where key = 'schema'").fetchone()
        return None if row is None else int(row[0])

    @property
    def schema_version(self) -> int | None:
        return self._stored_schema()

    # --- claims --------------------------------------------------------------------------------

    def _docs(self, where: sql.Composable = sql.SQL("true"), params: Any = None,
              order: sql.Composable = sql.SQL("c.number")) -> list[tuple[int, dict[str, Any]]]:
        """(number, claim in its dict form), by number (or `order`), of the claims `where` selects (on `claims c`)."""
        with self._conn() as conn:
            return self._with_forecasts(conn, conn.execute(_claim_rows(where, order), params).fetchall())

    @staticmethod
    def _with_forecasts(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> list[tuple[int, dict[str, Any]]]:
        """(number, claim in its dict form) of rows of _CLAIM_ROWS, their forecasts read in one query."""
        if not rows:
            return []
        numbers = [r[0] for r in rows]
        forecasts: dict[int, list[dict[str, Any]]] = {}
        for claim, by, who, p, at, note, withdrawn in conn.execute(
                "select claim, by_name, who, p, at, note, withdrawn_at from forecasts where claim = any(%s) "
                "order by claim, seq", (numbers,)):
            f = {"by": by, "p": p, "at": iso(at), "note": note, **who_field(who)}
            forecasts.setdefault(claim, []).append(f | {"withdrawn": iso(withdrawn)} if withdrawn else f)
        return [(r[0], _claim_doc(r, forecasts.get(r[0], []))) for r in rows]

    @staticmethod
    def _where(where: ClaimFilter | None) -> tuple[sql.Composable, list[Any]]:
        """A ClaimFilter as SQL: all of it but its words (which are checked in Python, with the rest again)."""
        f = where or ClaimFilter()
        parts, params = [sql.SQL("true")], []
        if f.archived is not None:
            parts.append(sql.SQL("c.archived_at is not null" if f.archived else "c.archived_at is null"))
        if f.status == "open" or f.due_by is not None:
            parts.append(sql.SQL("o.value is null"))
        if f.status == "resolved":
            parts.append(sql.SQL("o.value is not null"))
        if f.due_by is not None:
            parts.append(sql.SQL("c.review_date <= %s"))
            params.append(f.due_by)
        if f.tag is not None:
            parts.append(sql.SQL("c.tags @> array[%s]::text[]"))
            params.append(f.tag)
        if f.forecaster is not None:
            parts.append(sql.SQL("exists (select 1 from forecasts f where f.claim = c.number "
                                 "and coalesce(nullif(f.who, ''), f.by_name) = %s)"))
            params.append(f.forecaster)
        return sql.SQL(" and ").join(parts), params

    _COUNTS = "(select value from meta where key = 'claims_changes'), (select value from meta where key = 'claims_purged')"

    def _cached(self, counts: tuple[int, int | None] | None = None) -> dict[int, tuple[dict[str, Any], list[Claim]]]:
        """Every claim as this process last read it (its dict form, and its Claim once made), brought up to date with
        the meta counts (`counts`, or read now): the claims written since (claims.changed) are read again, and purged
        ones dropped. Reading 5,000 due claims of 100,000 then costs a query for their numbers, not 5,000 claims
        rebuilt."""
        with self._cache_lock:
            version, purged = counts or self._one(sql.SQL("select " + self._COUNTS))
            purged = purged or 0
            if version > self._cache_version:  # (a purge counts as a change too; an older snapshot has nothing new)
                changed = self._docs(sql.SQL("c.changed > %s"), (self._cache_version,))
                if purged != self._cache_purged:
                    live = {n for (n,) in self._rows("select number from claims")}
                    for gone in self._cache.keys() - live:
                        del self._cache[gone]
                self._cache.update((n, (doc, [])) for n, doc in changed)
                self._cache_version, self._cache_purged = version, purged
            return self._cache

    def _selected(self, where: ClaimFilter | None) -> list[tuple[int, tuple[dict[str, Any], list[Claim]]]]:
        condition, params = self._where(where)
        # due claims as they are listed (ClaimStore.find_claims), straight from their index (claims_due)
        order = sql.SQL("c.review_date, c.number" if where is not None and where.due_by is not None else "c.number")
        if self._once or getattr(self._local, "conn", None) is not None:  # (in a transaction: what it wrote, not yet
            found = [(n, (doc, [])) for n, doc in self._docs(condition, params, order)]  # committed)
        else:
            # one round trip: the numbers selected and the counts the cache is brought up to, in one snapshot
            version, purged, numbers = self._one(
                sql.SQL("select " + self._COUNTS + ", (select array_agg(c.number order by ") + order
                + sql.SQL(") from claims c left join outcomes o on o.claim = c.number where ") + condition + sql.SQL(")"),
                params)
            cache = self._cached((version, purged))
            found = [(n, entry) for n in numbers or () if (entry := cache.get(n)) is not None]
        if where is None or not where.words:  # the database selected exactly these (_where): nothing to check again
            return found
        return [(n, entry) for n, entry in found if where.matches(entry[0])]

    def claim_dicts(self, where: ClaimFilter | None = None) -> list[tuple[int, dict[str, Any]]]:
        return [(n, doc) for n, (doc, _) in self._selected(where)]

    def find_claims(self, where: ClaimFilter | None = None) -> list[Claim]:
        return [made[0] if made else _made(n, (doc, made)) for n, (doc, made) in self._selected(where)]

    def claim_batches(self, where: ClaimFilter | None = None) -> Iterator[list[Claim]]:
        """The claims find_claims finds, as many at a time as a claims file holds, by number, read for this (the claim
        cache is not filled)."""
        for docs in self.claim_dict_batches(where):
            yield [claim_from_dict(doc, n) for n, doc in docs]

    def claim_dict_batches(self, where: ClaimFilter | None = None) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """One query whose rows a server-side cursor brings SHARD_SIZE at a time: memory holds a batch, and no
        batch makes the server select the claims after it again (pages of `number > last ... limit` did: 20 ms
        each at 50,000 claims, `list` 3.2 s instead of 2.1)."""
        condition, params = self._where(where)
        with self._conn() as conn, conn.transaction(), conn.cursor(f"claims_{next(_cursors)}") as cursor:
            cursor.execute(_claim_rows(condition, sql.SQL("c.number")), params)
            while rows := cursor.fetchmany(SHARD_SIZE):
                found = self._with_forecasts(conn, rows)
                if docs := [(n, doc) for n, doc in found if where is None or not where.words or where.matches(doc)]:
                    yield docs

    def get_claim(self, number: int) -> Claim:
        if not 0 < number < 2**31:
            raise NotFound(f"there is no claim #{number}")
        if not self._once and getattr(self._local, "conn", None) is None and (entry := self._cached().get(number)) is not None:
            return _made(number, entry)
        found = self._docs(sql.SQL("c.number = %s"), (number,))
        if not found:
            raise NotFound(f"there is no claim #{number}")
        return claim_from_dict(found[0][1], number)

    def claims_version(self) -> tuple[Any, ...]:
        row = self._one("select value from meta where key = 'claims_changes'")
        return (row[0] if row else 0,)

    def is_empty(self) -> bool:
        """No claim was ever stored."""
        return self.claims_version() == (0,)

    def next_number(self) -> int:
        return self._one("select coalesce(max(number), 0) + 1 from claims")[0]

    def _exists(self, number: int) -> bool:
        return self._one("select 1 from claims where number = %s", (number,)) is not None

    def _changed(self) -> int:
        """Count a change to the claims (in this transaction); the count it is now."""
        return self._one("update meta set value = value + 1 where key = 'claims_changes' returning value")[0]

    def _write_claim(self, claim: Claim, *, new: bool) -> None:
        d = claim_to_dict(claim)
        archived = claim.archived
        values = (d["id"], d["kind"], d["text"], claim.created_at, d["created_by"], claim.created_who,
                  claim.review_date, d["p"], d["tags"], d["watch"], archived and archived.at, archived and archived.by,
                  archived and archived.who, archived and archived.reason, self._changed(), claim.id)
        with self._local.conn.pipeline():  # the statements below go together: one round trip, not eight
            self._write_claim_rows(claim, values, new=new)

    def _write_claim_rows(self, claim: Claim, values: tuple[Any, ...], *, new: bool) -> None:
        if new:
            self._run("insert into claims (ext_id, kind, text, created_at, created_by, created_who, review_date, p, "
                      "tags, watch, archived_at, archived_by, archived_who, archived_reason, changed, number) "
                      "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", values)
        else:
            self._run("update claims set ext_id = %s, kind = %s, text = %s, created_at = %s, created_by = %s, "
                      "created_who = %s, review_date = %s, p = %s, tags = %s, watch = %s, archived_at = %s, "
                      "archived_by = %s, archived_who = %s, archived_reason = %s, changed = %s where number = %s", values)
            for table in ("sources", "forecasts", "outcomes"):
                self._run(sql.SQL("delete from {} where claim = %s").format(sql.Identifier(table)), (claim.id,))
        s = claim.source
        self._run("insert into sources values (%s, %s, %s, %s, %s, %s)",
                  (claim.id, s.title, s.url, s.author, s.published, s.quote))
        self._run_many("insert into forecasts values (%s, %s, %s, %s, %s, %s, %s, %s)",
                       [(claim.id, seq, f.by, f.who, f.p, f.at, f.note, f.withdrawn_at)
                        for seq, f in enumerate(claim.forecasts, 1)])
        if (o := claim.outcome) is not None:
            self._run("insert into outcomes (claim, value, at, by_name, event_date, note, evidence, who) "
                      "values (%s, %s, %s, %s, %s, %s, %s, %s)",
                      (claim.id, o.value.value, o.at, o.by, o.event_date, o.note, list(o.evidence), o.who))

    def _audit(self, change: Change) -> None:
        self._run("insert into audit (claim, at, by_name, who, action, before, after) "
                  "values (%s, %s, %s, %s, %s, %s, %s)",
                  (change.claim, change.at, change.by, change.who, change.action, Json(change.before),
                   Json(change.after)))

    def insert_claim(self, claim: Claim, change: Change) -> Claim:
        with self.transaction():
            number = claim.id if 0 < claim.id < 2**31 and not self._exists(claim.id) else self.next_number()
            claim = claim.with_changes(id=number)
            self._write_claim(claim, new=True)
            self._audit(change if change.claim == number else replace(change, claim=number))
        return claim

    def update_claim(self, claim: Claim, change: Change) -> Claim:
        with self.transaction():
            if not self._exists(claim.id):
                raise NotFound(f"there is no claim #{claim.id}")
            self._write_claim(claim, new=False)
            self._audit(change)
        return claim

    def load_claim(self, claim: Claim, history: list[Change]) -> None:
        with self.transaction():
            if self._exists(claim.id):
                raise InputError(f"claim #{claim.id} is stored already")
            self._write_claim(claim, new=True)
            for change in history:
                self._audit(change)

    def purge_claim(self, number: int) -> int:
        with self.transaction():
            self.get_claim(number)
            gone = self._run("delete from evidence where claim = %s", (number,))
            self._run("delete from outbox where claim = %s and status = 'pending'", (number,))
            self._run("delete from claims where number = %s", (number,))  # its other rows go with it
            self._changed()
            self._run("insert into meta values ('claims_purged', 1) on conflict (key) do update set value = meta.value + 1")
        return gone

    def history(self, number: int) -> list[Change]:
        self.get_claim(number)
        return [Change(number, at, by, action, before, after, who) for at, by, action, before, after, who in self._rows(
            "select at, by_name, action, before, after, who from audit where claim = %s order by at, id", (number,))]

    # --- evidence ------------------------------------------------------------------------------

    def add_evidence(self, items: list[Evidence], *, alert: bool = False) -> list[Evidence]:
        stored: list[Evidence] = list(items)
        if not items:
            return stored
        with self.transaction():
            claims = sorted({e.claim for e in items})
            known: dict[tuple[Any, ...], tuple[int, int]] = {}  # evidence key -> (id, seq)
            last: dict[int, int] = dict.fromkeys(claims, 0)
            for id_, claim, seq, url, feed, title in self._rows(
                    "select id, claim, seq, url, feed, title from evidence where claim = any(%s)", (claims,)):
                known[evidence_key({"claim": claim, "url": url, "feed": feed, "title": title})] = (id_, seq)
                last[claim] = max(last[claim], seq)
            new: dict[tuple[Any, ...], Evidence] = {}  # key -> the item, numbered; one per key (a repeat is the same)
            for e in items:
                key = evidence_key({"claim": e.claim, "url": e.url, "feed": e.feed, "title": e.title})
                if key not in known and key not in new:
                    last[e.claim] += 1
                    new[key] = replace(e, seq=last[e.claim])
            if new:  # in one COPY, then their ids by claim and number
                with self._local.conn.cursor() as cur, cur.copy(
                        "copy evidence (claim, seq, url, title, feed, published, found_at, matched, stance, words, "
                        "backfill) from stdin") as copy:
                    for e in new.values():
                        copy.write_row((e.claim, e.seq, e.url, e.title, e.feed, e.published, e.found_at,
                                        list(e.matched), e.stance.value, list(e.words), e.backfill))
                ids = {(claim, seq): id_ for id_, claim, seq in self._rows(
                    "select id, claim, seq from evidence where claim = any(%s)", (claims,))}
                for key, e in new.items():
                    known[key] = (ids[e.claim, e.seq], e.seq)
                if alert:
                    self._run_many("insert into alert_events (kind, claim, created, fields) values (%s, %s, %s, %s)",
                                   [("evidence", e.claim, e.found_at, Jsonb({"evidence": known[key][0]}))
                                    for key, e in new.items()])
                    self._announce("alerts")
            for at, e in enumerate(items):
                id_, seq = known[evidence_key({"claim": e.claim, "url": e.url, "feed": e.feed, "title": e.title})]
                stored[at] = e.numbered(id_, seq)
        return stored

    def _evidence(self, where: str, params: Any) -> list[Evidence]:
        return [Evidence(id_, claim, url, title, found_at, feed, published, tuple(matched), Stance(stance),
                         tuple(words), backfill, seq)
                for id_, claim, seq, url, title, feed, published, found_at, matched, stance, words, backfill
                in self._rows("select id, claim, seq, url, title, feed, published, found_at, matched, stance, words, "
                              "backfill from evidence where " + where, params)]

    def evidence_for(self, number: int) -> list[Evidence]:
        items = self._evidence("claim = %s", (number,))
        return sorted(items, key=lambda e: (e.published or e.found_at, e.id), reverse=True)

    def evidence_between(self, start: datetime, end: datetime) -> list[Evidence]:
        return sorted(self._evidence("found_at > %s and found_at <= %s", (start, end)), key=lambda e: (e.found_at, e.id))

    def label_evidence(self, number: int, seq: int, stance: Stance, by: str, at: datetime, *,
                       who: str = "") -> Evidence:
        with self.transaction():
            item = next(iter(self._evidence("claim = %s and seq = %s for update", (number, seq))), None)
            if item is None:
                raise NotFound(f"claim #{number} has no evidence [{seq}]")
            if item.stance == stance:
                raise InputError(f"evidence [{seq}] on #{number} is labelled {stance.value} already; nothing changed")
            self._run("update evidence set stance = %s where id = %s", (stance.value, item.id))
            self._audit(Change(number, at, by, "label", {"evidence": seq, "stance": item.stance.value},
                               {"evidence": seq, "stance": stance.value}, who))
        return replace(item, stance=stance)

    def add_alert(self, kind: str, number: int, at: datetime, **fields: Any) -> None:
        with self.transaction():
            self._run("insert into alert_events (kind, claim, created, fields) values (%s, %s, %s, %s)",
                      (kind, number, at, Jsonb(fields)))
            self._announce("alerts")

    def alert_events(self) -> list[dict[str, Any]]:
        return [{"kind": kind, "claim": claim, "created": iso(created), **fields, "ref": ("alert", id_)}
                for id_, kind, claim, created, fields in self._rows(
                    "select id, kind, claim, created, fields from alert_events order by created, id")]

    # --- outbox --------------------------------------------------------------------------------

    def queue_messages(self, messages: list[dict[str, Any]], *, done_events: list[tuple[str, int]] = (),
                       state: dict[str, Any] | None = None) -> int:
        with self.transaction():
            new = 0
            for m in messages:
                extra = {k: v for k, v in m.items() if k not in _MESSAGE_FIELDS}
                new += self._run(
                    "insert into outbox (key, chat, kind, claim, title, line, created, status, attempts, next_try, "
                    "sent_at, error, extra) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "on conflict (key) do nothing", (*(m.get(f) for f in _MESSAGE_FIELDS), Jsonb(extra)))
            if state:
                self._update_outbox_state(state)
            ids = [ref for _, ref in done_events]
            if ids:
                self._run("delete from alert_events where id = any(%s)", (ids,))
            if new:
                self._announce("outbox")
            return new

    def outbox_state(self) -> dict[str, Any]:
        return dict(self._rows("select key, value from outbox_state"))

    def _update_outbox_state(self, state: dict[str, Any]) -> None:
        self._run_many("insert into outbox_state values (%s, %s) on conflict (key) do update set value = excluded.value",
                       [(k, Jsonb(v)) for k, v in state.items()])

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        rows = self._rows("select " + ", ".join(_MESSAGE_FIELDS) + ", extra from outbox "
                          "where %s::text is null or status = %s order by id", (status, status))
        return [_message(row) for row in rows]

    def update_messages(self, keys: list[str], *, chat: int | None = None, **fields: Any) -> None:
        if not fields:
            return
        with self.transaction():
            assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(f)) for f in fields)
            self._run(sql.SQL("update outbox set {} where key = any(%s)").format(assignments),
                      (*fields.values(), list(keys)))

    def forget_messages(self, keys: list[str], *, chats: Collection[int] | None = None) -> None:
        with self.transaction():
            self._run("delete from outbox where key = any(%s)", (list(keys),))

    def forget_claim_messages(self, chat_id: int, number: int) -> int:
        with self.transaction():
            return self._run("delete from outbox where chat = %s and claim = %s and status = 'pending'",
                             (chat_id, number))

    def prune_outbox(self, before: datetime, pending_for: tuple[int, ...] = ()) -> int:
        with self.transaction():
            return self._run("delete from outbox where (status <> 'pending' or chat = any(%s)) "
                             "and coalesce(sent_at, created) < %s", (list(pending_for), before))

    def deactivate_chat(self, chat_id: int, reason: str, at: datetime) -> int:
        with self.transaction():
            dropped = self._run("update outbox set status = 'dropped', error = %s, sent_at = %s "
                                "where chat = %s and status = 'pending'", (reason, at, chat_id))
            chat = self.chat(chat_id) or Chat(chat_id, "private" if chat_id > 0 else "group", "")
            self.save_chat(replace(chat, active=False, reason=reason, changed_at=at))
            return dropped

    def migrate_chat(self, old: int, new: int, at: datetime) -> None:
        with self.transaction():
            self._run("update outbox set chat = %s where chat = %s and status = 'pending'", (new, old))
            digests = dict(self.outbox_state().get("digests", {}))
            if str(old) in digests:
                digests[str(new)] = digests.pop(str(old))
                self._update_outbox_state({"digests": digests})
            self._run("delete from subscriptions s where chat = %s and exists "
                      "(select 1 from subscriptions n where n.chat = %s and n.target = s.target)", (old, new))
            self._run("update subscriptions set chat = %s where chat = %s", (new, old))
            chat = self.chat(old)
            if chat is not None:
                self._run("delete from chats where id = %s", (old,))
                self.save_chat(replace(chat, id=new, type="supergroup", changed_at=at))

    # --- people, chats and subscriptions -------------------------------------------------------

    def user(self, user_id: int) -> User | None:
        row = self._one("select id, name, role, granted_by, granted_at from users where id = %s", (user_id,))
        return None if row is None else User(row[0], row[1], Role(row[2]), row[3], row[4])

    def users(self) -> list[User]:
        return [User(i, n, Role(r), b, a) for i, n, r, b, a in self._rows(
            "select id, name, role, granted_by, granted_at from users order by id")]

    def _save_role(self, user_id: int, role: Role | None, name: str, by: str, at: datetime) -> None:
        with self.transaction():
            if role is None:
                self._run("delete from users where id = %s", (user_id,))
            else:
                self._run("insert into users values (%s, %s, %s, %s, %s) on conflict (id) do update set "
                          "name = excluded.name, role = excluded.role, granted_by = excluded.granted_by, "
                          "granted_at = excluded.granted_at", (user_id, name, role.value, by, at))

    def add_invite(self, token: str, role: Role, by: str, at: datetime, used_by: int | None = None,
                   used_at: datetime | None = None) -> None:
        with self.transaction():
            self._run("insert into invites values (%s, %s, %s, %s, %s, %s)", (token, role.value, by, at, used_by, used_at))

    def invites(self) -> list[dict[str, Any]]:
        return [{"token": t, "role": Role(r), "created_by": b, "created_at": a, "used_by": u, "used_at": ua}
                for t, r, b, a, u, ua in self._rows("select * from invites order by created_at, token")]

    def _invite_used(self, token: str, user_id: int, at: datetime) -> None:
        self._run("update invites set used_by = %s, used_at = %s where token = %s", (user_id, at, token))

    def add_sign_in(self, key: str, user_id: int, name: str, expires: datetime, at: datetime) -> None:
        with self.transaction():
            self._run("delete from sign_ins where expires < %s", (at - timedelta(days=1),))
            self._run("insert into sign_ins values (%s, %s, %s, %s, %s, null)", (key, user_id, name, expires, at))

    def _sign_in(self, key: str) -> tuple[int, str, datetime, datetime | None] | None:
        return self._one("select user_id, name, expires, used from sign_ins where key = %s", (key,))

    def _sign_in_used(self, key: str, at: datetime) -> None:
        self._run("update sign_ins set used = %s where key = %s", (at, key))

    def start_session(self, key: str, user_id: int, name: str, expires: datetime, at: datetime) -> None:
        with self.transaction():
            self._run("delete from sessions where expires <= %s", (at,))
            self._run("insert into sessions values (%s, %s, %s, %s, %s)", (key, user_id, name, expires, at))

    def session(self, key: str, at: datetime) -> tuple[int, str] | None:
        row = self._one("select user_id, name from sessions where key = %s and expires > %s", (key, at))
        return None if row is None else (row[0], row[1])

    def end_session(self, key: str) -> None:
        with self.transaction():
            self._run("delete from sessions where key = %s", (key,))

    def share_claim(self, number: int, token: str, by: str, at: datetime) -> None:
        with self.transaction():
            self._run("insert into shared_claims values (%s, %s, %s, %s) on conflict (claim) do update set "
                      "token = excluded.token, by_name = excluded.by_name, at = excluded.at", (number, token, by, at))

    def unshare_claim(self, number: int) -> bool:
        with self.transaction():
            return self._run("delete from shared_claims where claim = %s", (number,)) > 0

    def share_token(self, number: int) -> str | None:
        row = self._one("select token from shared_claims where claim = %s", (number,))
        return None if row is None else row[0]

    def shared_claim(self, token: str) -> int | None:
        row = self._one("select claim from shared_claims where token = %s", (token,))
        return None if row is None else row[0]

    _CHAT_COLUMNS = "id, type, title, active, reason, changed_at, digest, digest_at, tz, muted, nudges"

    def chat(self, chat_id: int) -> Chat | None:
        row = self._one(f"select {self._CHAT_COLUMNS} from chats where id = %s", (chat_id,))
        return None if row is None else _chat(row)

    def chats(self) -> list[Chat]:
        return [_chat(row) for row in self._rows(f"select {self._CHAT_COLUMNS} from chats order by id")]

    def save_chat(self, chat: Chat) -> None:
        with self.transaction():
            digests = self.outbox_state().get("digests", {})
            if (chat.digest == "off" or not chat.active) and str(chat.id) in digests:
                self._update_outbox_state({"digests": {k: v for k, v in digests.items() if k != str(chat.id)}})
            self._run(f"insert into chats ({self._CHAT_COLUMNS}) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                      "on conflict (id) do update set type = excluded.type, title = excluded.title, "
                      "active = excluded.active, reason = excluded.reason, changed_at = excluded.changed_at, "
                      "digest = excluded.digest, digest_at = excluded.digest_at, tz = excluded.tz, "
                      "muted = excluded.muted, nudges = excluded.nudges",
                      (chat.id, chat.type, chat.title, chat.active, chat.reason, chat.changed_at, chat.digest,
                       chat.digest_at, chat.tz, list(chat.muted), chat.nudges))

    def team_settings(self) -> dict[str, str]:
        return dict(self._rows("select key, value from settings order by key"))

    def save_team_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self._run("insert into settings values (%s, %s) on conflict (key) do update set value = excluded.value",
                      (key, value))

    def subscriptions(self, chat_id: int | None = None) -> list[Subscription]:
        return [Subscription(chat, target, since, tuple(kinds)) for chat, target, since, kinds in self._rows(
            "select chat, target, since, kinds from subscriptions where %s::bigint is null or chat = %s order by id",
            (chat_id, chat_id))]

    def subscribe(self, chat_id: int, target: str, at: datetime, kinds: tuple[str, ...] = ALERT_KINDS) -> bool:
        with self.transaction():
            row = self._one("select kinds from subscriptions where chat = %s and target = %s", (chat_id, target))
            if row is not None and tuple(row[0]) == kinds:
                return False
            if row is not None:
                self._run("update subscriptions set kinds = %s where chat = %s and target = %s",
                          (list(kinds), chat_id, target))
            else:
                self._run("insert into subscriptions (chat, target, since, kinds) values (%s, %s, %s, %s)",
                          (chat_id, target, at, list(kinds)))
            return True

    def unsubscribe(self, chat_id: int, target: str | None) -> int:
        with self.transaction():
            return self._run("delete from subscriptions where chat = %s and (%s::text is null or target = %s)",
                             (chat_id, target, target))

    # --- feeds --------------------------------------------------------------------------------

    _FEED_COLUMNS = "id, " + ", ".join(_FEED_FIELDS)

    def feeds(self) -> list[Feed]:
        return [_feed(row) for row in self._rows(f"select {self._FEED_COLUMNS} from feeds order by id")]

    def feed(self, feed_id: int) -> Feed:
        row = self._one(f"select {self._FEED_COLUMNS} from feeds where id = %s", (feed_id,)) \
            if 0 < feed_id < 2**31 else None
        if row is None:
            raise NotFound(f"there is no feed {feed_id}")
        return _feed(row)

    def add_feeds(self, feeds: list[Feed]) -> list[Feed | int]:
        with self.transaction():
            watched = {address: id_ for id_, address in self._rows("select id, address from feeds order by id desc")}
            out: list[Feed | int] = []
            for feed in feeds:
                key = feed_key(feed.url)
                if key in watched:
                    out.append(watched[key])
                    continue
                values = [getattr(feed, f) for f in _FEED_FIELDS]
                id_ = self._one(f"insert into feeds (id, address, {', '.join(_FEED_FIELDS)}) values "  # numbered as in files
                                f"((select coalesce(max(id), 0) + 1 from feeds), %s, {', '.join(['%s'] * len(_FEED_FIELDS))}) "
                                "returning id", (key, *values))[0]
                watched[key] = id_
                out.append(replace(feed, id=id_))
            return out

    def save_feed(self, feed: Feed) -> None:
        with self.transaction():
            if self._one("select 1 from feeds where id = %s", (feed.id,)) is None:
                self._run(f"insert into feeds (id, address, {', '.join(_FEED_FIELDS)}) values "
                          f"(%s, %s, {', '.join(['%s'] * len(_FEED_FIELDS))})",
                          (feed.id, feed_key(feed.url), *(getattr(feed, f) for f in _FEED_FIELDS)))
            else:
                self.save_feeds([feed])

    def save_feeds(self, feeds: list[Feed]) -> None:
        """Store the new state of feeds stored already; each one's lease ends with it."""
        with self.transaction():
            assignments = ", ".join(f"{f} = %s" for f in _FEED_FIELDS)
            self._run_many(f"update feeds set address = %s, {assignments}, leased_by = null, leased_until = null "
                           "where id = %s",
                           [(feed_key(f.url), *(getattr(f, n) for n in _FEED_FIELDS), f.id) for f in feeds])

    def remove_feed(self, feed_id: int) -> Feed:
        with self.transaction():
            feed = self.feed(feed_id)
            self._run("delete from feeds where id = %s", (feed_id,))
        return feed

    def lease_feeds(self, worker: str, now: datetime, limit: int, *, every_feed: bool = False,
                    lease: timedelta = LEASE, reclaim: Collection[str] = ()) -> list[Feed]:
        """Up to `limit` enabled feeds due at `now` (all enabled with `every_feed`) that no worker holds (or only
        one named in `reclaim`, known to be gone), now held by `worker` until `now + lease` or until their new
        state is saved. Other workers skip the rows being leased (FOR UPDATE SKIP LOCKED), so no two lease the
        same feed; this takes no writers' lock."""
        with self._conn() as conn, conn.transaction():
            rows = conn.execute(
                f"update feeds set leased_by = %s, leased_until = %s where id in ("
                "select id from feeds where enabled and (%s or next_check is null or next_check <= %s) "
                "and (leased_until is null or leased_until <= %s or leased_by = any(%s)) "
                "order by next_check nulls first, id limit %s for update skip locked) "
                f"returning {self._FEED_COLUMNS}",
                (worker, now + lease, every_feed, now, now, list(reclaim), limit)).fetchall()
        return sorted((_feed(row) for row in rows), key=lambda f: f.id)

    def lease_holders(self, now: datetime) -> set[str]:
        return {row[0] for row in self._rows("select distinct leased_by from feeds where leased_until > %s", (now,))}

    # --- recent news ---------------------------------------------------------------------------

    def add_news(self, items: list[NewsItem], now: datetime) -> None:
        if not items:
            return
        with self.transaction():
            self._run_many("insert into news (feed, link, title, summary, published) values (%s, %s, %s, %s, %s) "
                           "on conflict do nothing",
                           [(i.feed, i.link, i.title, i.summary, i.published) for i in items])
            self._run("delete from news where published < %s", (now - timedelta(days=RECENT_DAYS),))
            self._run("delete from news where id in (select id from news order by published desc, id desc "
                      "offset %s)", (RECENT_LIMIT,))

    def recent_news(self, now: datetime) -> list[NewsItem]:
        return [NewsItem(*row) for row in self._rows(
            "select feed, link, title, summary, published from news where published >= %s "
            "order by published desc, id", (now - timedelta(days=RECENT_DAYS),))]  # (as files: the first kept first)

    # --- seen entries ----------------------------------------------------------------------------

    def seen(self, feed_id: int) -> dict[str, tuple[str, datetime]]:
        return {key: (hash_, at) for key, hash_, at in self._rows(
            "select key, hash, seen_at from seen_entries where feed = %s", (feed_id,))}

    def save_seen(self, feed_id: int, entries: dict[str, tuple[str, datetime]]) -> None:
        with self.transaction():
            self._run("delete from seen_entries where feed = %s", (feed_id,))
            if entries and self._one("select 1 from feeds where id = %s", (feed_id,)) is not None:
                with self._local.conn.cursor() as cur, cur.copy(
                        "copy seen_entries (feed, key, hash, seen_at) from stdin") as copy:
                    for key, (hash_, at) in entries.items():
                        copy.write_row((feed_id, key, hash_, at))


def _made(number: int, entry: tuple[dict[str, Any], list[Claim]]) -> Claim:
    """The Claim of a cached claim, made once."""
    doc, made = entry
    if not made:
        made.append(claim_from_dict(doc, number))
    return made[0]


def _claim_doc(r: tuple[Any, ...], forecasts: list[dict[str, Any]]) -> dict[str, Any]:
    (_, ext_id, kind, text, created_at, created_by, created_who, review_date, p, tags, watch, archived_at, archived_by,
     archived_who, archived_reason, s_title, s_url, s_author, s_published, s_quote, o_value, o_at, o_by, o_who,
     o_event, o_note, o_evidence) = r
    return {
        "id": ext_id, "kind": kind, "text": text,
        "source": {"title": s_title or "", "url": s_url or "", "author": s_author or "", "published": iso(s_published),
                   "quote": s_quote or ""},
        "created": iso(created_at), "created_by": created_by, "review_date": iso(review_date),
        "tags": tags, "watch": watch, "p": p, "forecasts": forecasts,
        "outcome": None if o_value is None else {"value": o_value, "event_date": iso(o_event), "at": iso(o_at),
                                                 "by": o_by, "note": o_note, "evidence": o_evidence, **who_field(o_who)},
        "archived": None if archived_at is None else {"at": iso(archived_at), "by": archived_by,
                                                      "reason": archived_reason or "", **who_field(archived_who)},
        **({"created_who": created_who} if created_who else {}),
    }


def _message(row: tuple[Any, ...]) -> dict[str, Any]:
    m = dict(zip(_MESSAGE_FIELDS, row[:-1], strict=True))
    for name in _MESSAGE_TIMES:
        if m[name] is not None:
            m[name] = iso_utc(m[name])
    return m | row[-1]


def _chat(row: tuple[Any, ...]) -> Chat:
    id_, type_, title, active, reason, changed_at, digest, digest_at, tz, muted, nudges = row
    return Chat(id_, type_, title, active, reason, changed_at, digest, digest_at, tz, tuple(muted), nudges)


def _feed(row: tuple[Any, ...]) -> Feed:
    return Feed(row[0], **dict(zip(_FEED_FIELDS, row[1:], strict=True)))


def create_database(server: str, name: str) -> str:
    """Create the database `name` on the server `server` (a location of any database there); its location."""
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.Error as e:
        raise StoreError(f"cannot create a database at {shown(server)}: {_said(e)}") from None
    params = conninfo_to_dict(server)
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{params.get('host', 'localhost')}:{params.get('port', 5432)}/{name}"


def drop_database(server: str, name: str) -> None:
    """Drop the database `name`, closing this process's connections to it first."""
    with _pools_lock:
        for conninfo in [c for c in _pools if conninfo_to_dict(c).get("dbname") == name]:
            _pools.pop(conninfo).close()
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
