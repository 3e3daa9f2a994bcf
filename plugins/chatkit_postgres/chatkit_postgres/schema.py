"""The database schema, as numbered migrations applied in order and never edited once released.

Every object is named ``chatkit_*``, so the tables can live beside an application's own; to keep
them in a schema of their own, put ``options=-csearch_path%3Dchatkit`` in the URL (the schema must
exist). ``chatkit_migrations`` records what was applied.

Tables:

- ``chatkit_sessions``: one row a session. ``created_at`` and ``last_seen`` are epoch seconds (the
  store's own clock, as the other stores keep them); ``metadata`` the JSON the widget sent;
  ``messages`` how many are kept, ``title`` the first question, and how many kept answers were
  rated down, cut off, fell back or had no sources, for the console's filters.
- ``chatkit_messages``: one row a message, in ``seq`` order within its session. ``body`` is the
  whole message as JSON text (``text``, not ``jsonb``: a ``\\u0000`` escape that ``jsonb`` refuses
  stays storable); beside it what the console filters and searches on: ``role``, ``provider``, the
  flags (which the session's counts add up), and ``words``, the message's distinct search words
  (``chatkit_core.chat.listing.words``).
- ``chatkit_leases``: which instance runs a periodic chore (the retention sweep) until when.
- ``chatkit_attachments``: visitors' attachments (``[uploads]``), one row each, deleted with their
  session; ``body`` the attachment as msgpack (its safe content and what it is).

The chat's two writes are functions, so each is one round trip and one transaction:
``chatkit_append`` adds a message, ``chatkit_ask`` adds the visitor's question unless the last
message is that same question, unanswered, and returns the recent history. Both lock the session
row first, so concurrent writers to one conversation queue there and never interleave, and both
keep only the newest ``p_keep`` messages.
"""

from __future__ import annotations

from typing import NamedTuple


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


_INITIAL = """
CREATE TABLE chatkit_sessions (
    id text PRIMARY KEY,
    created_at double precision NOT NULL,
    last_seen double precision NOT NULL,
    metadata text NOT NULL DEFAULT '{}',
    messages integer NOT NULL DEFAULT 0,
    title text NOT NULL DEFAULT '',
    down integer NOT NULL DEFAULT 0,
    incomplete integer NOT NULL DEFAULT 0,
    fell_back integer NOT NULL DEFAULT 0,
    unsourced integer NOT NULL DEFAULT 0
);
CREATE INDEX chatkit_sessions_last_seen ON chatkit_sessions (last_seen);
-- The console lists conversations (sessions holding a message) newest first, each filter
-- from an index of its own, so a rare flag is found without walking every conversation.
CREATE INDEX chatkit_sessions_listed ON chatkit_sessions (created_at, id) WHERE messages > 0;
CREATE INDEX chatkit_sessions_down ON chatkit_sessions (created_at, id) WHERE down > 0;
CREATE INDEX chatkit_sessions_incomplete ON chatkit_sessions (created_at, id) WHERE incomplete > 0;
CREATE INDEX chatkit_sessions_fell_back ON chatkit_sessions (created_at, id) WHERE fell_back > 0;
CREATE INDEX chatkit_sessions_unsourced ON chatkit_sessions (created_at, id) WHERE unsourced > 0;

CREATE TABLE chatkit_messages (
    session_id text NOT NULL REFERENCES chatkit_sessions (id) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    id text NOT NULL,
    role text NOT NULL,
    body text NOT NULL,
    provider text,
    down boolean NOT NULL DEFAULT false,
    incomplete boolean NOT NULL DEFAULT false,
    fell_back boolean NOT NULL DEFAULT false,
    unsourced boolean NOT NULL DEFAULT false,
    words text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (session_id, seq),
    UNIQUE (session_id, id)
);
-- fastupdate off: each message's words go into the index as it is stored, so a search never
-- scans a backlog of pending entries (up to 4 MB by default: 10-50 ms a search at 100,000
-- conversations).
CREATE INDEX chatkit_messages_words ON chatkit_messages USING gin (words) WITH (fastupdate = off);
CREATE INDEX chatkit_messages_provider ON chatkit_messages (provider, session_id) WHERE provider IS NOT NULL;

CREATE TABLE chatkit_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Insert one message into a session whose row the caller has locked and which holds
-- p_count messages; drop the oldest beyond p_keep, and keep the session's counts of flagged
-- answers in step. A message already stored (the same id: a write retried after its
-- acknowledgement was lost) is not stored twice.
CREATE FUNCTION chatkit_add(p_session text, p_count integer, p_now double precision, p_keep integer,
                            p_id text, p_role text, p_body text, p_title text, p_provider text,
                            p_down boolean, p_incomplete boolean, p_fell_back boolean, p_unsourced boolean,
                            p_words text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    gone integer := 0;
    gone_down integer := 0;
    gone_incomplete integer := 0;
    gone_fell_back integer := 0;
    gone_unsourced integer := 0;
BEGIN
    INSERT INTO chatkit_messages (session_id, id, role, body, provider, down, incomplete, fell_back, unsourced, words)
        VALUES (p_session, p_id, p_role, p_body, p_provider, p_down, p_incomplete, p_fell_back, p_unsourced, p_words)
        ON CONFLICT (session_id, id) DO NOTHING;
    IF NOT FOUND THEN
        UPDATE chatkit_sessions SET last_seen = p_now WHERE id = p_session;
        RETURN;
    END IF;
    IF p_count + 1 > p_keep THEN
        WITH trimmed AS (
            DELETE FROM chatkit_messages WHERE session_id = p_session AND seq <= (
                SELECT seq FROM chatkit_messages WHERE session_id = p_session ORDER BY seq DESC OFFSET p_keep LIMIT 1)
            RETURNING down, incomplete, fell_back, unsourced)
        SELECT count(*), count(*) FILTER (WHERE down), count(*) FILTER (WHERE incomplete),
               count(*) FILTER (WHERE fell_back), count(*) FILTER (WHERE unsourced)
            INTO gone, gone_down, gone_incomplete, gone_fell_back, gone_unsourced FROM trimmed;
    END IF;
    UPDATE chatkit_sessions SET last_seen = p_now, messages = p_count + 1 - gone,
        title = CASE WHEN title = '' AND p_role = 'user' THEN p_title ELSE title END,
        down = down + p_down::integer - gone_down,
        incomplete = incomplete + p_incomplete::integer - gone_incomplete,
        fell_back = fell_back + p_fell_back::integer - gone_fell_back,
        unsourced = unsourced + p_unsourced::integer - gone_unsourced
        WHERE id = p_session;
END $$;

-- Add a message to a live session (last seen after p_cutoff); false when it is gone.
CREATE FUNCTION chatkit_append(p_session text, p_cutoff double precision, p_now double precision, p_keep integer,
                               p_id text, p_role text, p_body text, p_title text, p_provider text,
                               p_down boolean, p_incomplete boolean, p_fell_back boolean, p_unsourced boolean,
                               p_words text[]) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    held integer;
BEGIN
    SELECT messages INTO held FROM chatkit_sessions WHERE id = p_session AND last_seen > p_cutoff FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM chatkit_add(p_session, held, p_now, p_keep, p_id, p_role, p_body, p_title, p_provider,
                        p_down, p_incomplete, p_fell_back, p_unsourced, p_words);
    RETURN true;
END $$;

-- The last p_limit messages of a live session as one JSON array, oldest first; NULL when gone.
CREATE FUNCTION chatkit_recent(p_session text, p_limit integer) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT '[' || coalesce(string_agg(body, ',' ORDER BY seq), '') || ']' FROM (
        SELECT seq, body FROM chatkit_messages WHERE session_id = p_session ORDER BY seq DESC LIMIT p_limit) recent
$$;

-- Store the visitor's question (unless the last message is that same question, unanswered)
-- and return the last p_limit messages ending with it; NULL when the session is gone.
CREATE FUNCTION chatkit_ask(p_session text, p_cutoff double precision, p_now double precision, p_keep integer,
                            p_limit integer, p_id text, p_body text, p_content text, p_title text,
                            p_words text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    held integer;
    last json;
BEGIN
    SELECT messages INTO held FROM chatkit_sessions WHERE id = p_session AND last_seen > p_cutoff FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT body::json INTO last FROM chatkit_messages WHERE session_id = p_session ORDER BY seq DESC LIMIT 1;
    IF last IS NULL OR last->>'role' IS DISTINCT FROM 'user' OR last->>'content' IS DISTINCT FROM p_content THEN
        PERFORM chatkit_add(p_session, held, p_now, p_keep, p_id, 'user', p_body, p_title, NULL,
                            false, false, false, false, p_words);
    END IF;
    RETURN chatkit_recent(p_session, p_limit);
END $$;
"""

_REVOKED = """
CREATE TABLE chatkit_console_revoked (
    sign_in text PRIMARY KEY,
    until double precision NOT NULL
);
"""

_ATTACHMENTS = """
CREATE TABLE chatkit_attachments (
    session_id text NOT NULL REFERENCES chatkit_sessions (id) ON DELETE CASCADE,
    id text NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (session_id, id)
);
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "sessions, messages, console columns and leases", _INITIAL),
    Migration(2, "console sign-ins revoked by signing out", _REVOKED),
    Migration(3, "visitors' attachments, erased with their conversation", _ATTACHMENTS),
]

LATEST = MIGRATIONS[-1].version
