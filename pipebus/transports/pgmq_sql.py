"""The SQL behind ``IsolatedPgmqBackend``: SECURITY DEFINER wrappers over PGMQ, and their grants.

Installed by ``pipebus pgmq install`` (and ``pipebus pgmq grant ROLE``), or from an
Alembic migration of your own::

    from pipebus.transports.pgmq_sql import DROP_SQL, WRAPPERS_SQL, grant_sql

    def upgrade() -> None:
        op.execute(WRAPPERS_SQL)          # PGMQ must be installed first
        op.execute(grant_sql("app_user"))

    def downgrade() -> None:
        op.execute(DROP_SQL)

The wrappers run as their owner (who must be able to use PGMQ) with a fixed
``search_path``. A table ``public.bus_peers`` says which queue belongs to which channel
and which role joined it; every wrapper but ``bus_join`` checks that the caller's role
(``session_user``) joined that queue on that channel, so a role that has not joined a
channel can neither read nor write its queues. Knowing a channel's name lets a granted
role join it: the name is the capability. ``EXECUTE`` is revoked from ``PUBLIC``;
:func:`grant_sql` grants it to a role.

Signatures (Pipecat's five, plus batch forms pipebus's bus uses)::

    bus_join(channel text) -> text                            a new queue on the channel
    bus_publish(channel, my_queue text, message jsonb) -> bigint    to every queue, the sender's too
    bus_publish(channel, my_queue text, bodies text[], as_strings, include_self bool)
        -> bigint
    bus_subscribe(my_queue, channel text, vt, qty, max_seconds int)
        -> table (msg_id bigint, message jsonb)
    bus_archive(my_queue, channel text, msg_id bigint) -> boolean
    bus_archive(my_queue, channel text, msg_ids bigint[]) -> bigint
    bus_leave(my_queue, channel text) -> void
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

CALLABLE = (
    "public.bus_join(text)",
    "public.bus_publish(text, text, jsonb)",
    "public.bus_publish(text, text, text[], boolean, boolean)",
    "public.bus_subscribe(text, text, integer, integer, integer)",
    "public.bus_archive(text, text, bigint)",
    "public.bus_archive(text, text, bigint[])",
    "public.bus_leave(text, text)",
)
"""The wrappers a bus calls (``bus_check`` runs inside them only)."""

WRAPPERS_SQL = r"""
CREATE TABLE IF NOT EXISTS public.bus_peers (
    queue_name text PRIMARY KEY,
    channel text NOT NULL,
    member name NOT NULL,
    joined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bus_peers_channel ON public.bus_peers (channel);
REVOKE ALL ON public.bus_peers FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.bus_check(p_my_queue text, p_channel text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM public.bus_peers
        WHERE queue_name = p_my_queue AND channel = p_channel AND member = session_user
    ) THEN
        RAISE EXCEPTION 'role % has not joined queue % on this channel', session_user, p_my_queue
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;

CREATE OR REPLACE FUNCTION public.bus_join(p_channel text)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_queue text := 'b_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    IF p_channel IS NULL OR p_channel = '' THEN
        RAISE EXCEPTION 'a channel name is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pgmq.create(v_queue);
    IF to_regprocedure('pgmq.enable_notify_insert(text,integer)') IS NOT NULL THEN
        EXECUTE 'SELECT pgmq.enable_notify_insert($1, 0)' USING v_queue;
    END IF;
    INSERT INTO public.bus_peers (queue_name, channel, member)
    VALUES (v_queue, p_channel, session_user);
    RETURN v_queue;
END $$;

CREATE OR REPLACE FUNCTION public.bus_publish(
    p_channel text, p_my_queue text, p_bodies text[], p_as_strings boolean, p_include_self boolean
)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_messages jsonb[];
    v_sent bigint := 0;
    v_queue text;
BEGIN
    PERFORM public.bus_check(p_my_queue, p_channel);
    SELECT array_agg(CASE WHEN p_as_strings THEN to_jsonb(b) ELSE b::jsonb END ORDER BY o)
      INTO v_messages FROM unnest(p_bodies) WITH ORDINALITY AS t(b, o);
    IF v_messages IS NULL THEN
        RETURN 0;
    END IF;
    FOR v_queue IN
        SELECT queue_name FROM public.bus_peers
        WHERE channel = p_channel AND (p_include_self OR queue_name <> p_my_queue)
    LOOP
        PERFORM pgmq.send_batch(v_queue, v_messages);
        v_sent := v_sent + 1;
    END LOOP;
    RETURN v_sent;
END $$;

CREATE OR REPLACE FUNCTION public.bus_publish(p_channel text, p_my_queue text, p_message jsonb)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN public.bus_publish(p_channel, p_my_queue, ARRAY[p_message::text], false, true);
END $$;

CREATE OR REPLACE FUNCTION public.bus_subscribe(
    p_my_queue text, p_channel text, p_vt integer, p_qty integer, p_max_seconds integer
)
RETURNS TABLE (msg_id bigint, message jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.bus_check(p_my_queue, p_channel);
    IF p_max_seconds > 0 THEN
        RETURN QUERY SELECT r.msg_id, r.message
            FROM pgmq.read_with_poll(p_my_queue, p_vt, p_qty, p_max_seconds, 100) r;
    ELSE
        RETURN QUERY SELECT r.msg_id, r.message FROM pgmq.read(p_my_queue, p_vt, p_qty) r;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION public.bus_archive(p_my_queue text, p_channel text, p_msg_id bigint)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.bus_check(p_my_queue, p_channel);
    RETURN pgmq.delete(p_my_queue, p_msg_id);
END $$;

CREATE OR REPLACE FUNCTION public.bus_archive(p_my_queue text, p_channel text, p_msg_ids bigint[])
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.bus_check(p_my_queue, p_channel);
    RETURN (SELECT count(*) FROM pgmq.delete(p_my_queue, p_msg_ids));
END $$;

CREATE OR REPLACE FUNCTION public.bus_leave(p_my_queue text, p_channel text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM public.bus_check(p_my_queue, p_channel);
    DELETE FROM public.bus_peers WHERE queue_name = p_my_queue;
    PERFORM pgmq.drop_queue(p_my_queue);
END $$;
""" + "\n".join(
    f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;"
    for signature in ("public.bus_check(text, text)", *CALLABLE)
)
"""Creates (or replaces) the peer table and the wrappers; PGMQ must be installed first."""

DROP_SQL = (
    "\n".join(f"DROP FUNCTION IF EXISTS {signature};" for signature in CALLABLE)
    + "\nDROP FUNCTION IF EXISTS public.bus_check(text, text);"
    + "\nDROP TABLE IF EXISTS public.bus_peers;"
)
"""Drops the wrappers and the peer table (the queues stay: drop them with PGMQ)."""

_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def grant_sql(role: str) -> str:
    """The SQL that lets ``role`` call the wrappers (and nothing of PGMQ).

    Raises:
        ValueError: If ``role`` is not a plain identifier (it is written into the SQL).
    """
    if not _ROLE.fullmatch(role):
        raise ValueError(
            f"role {role!r} is not a plain PostgreSQL identifier (letters, digits, _ and $, "
            "not starting with a digit)"
        )
    return "\n".join(
        f'GRANT EXECUTE ON FUNCTION {signature} TO "{role}";' for signature in CALLABLE
    )


def revoke_sql(role: str) -> str:
    """The SQL that takes the wrappers back from ``role``.

    Raises:
        ValueError: If ``role`` is not a plain identifier.
    """
    return grant_sql(role).replace("GRANT ", "REVOKE ").replace(" TO ", " FROM ")


def pgmq_install_sql() -> tuple[str, str]:
    """PGMQ's SQL-only install as the ``pgmq`` package bundles it, and its PGMQ version.

    Raises:
        RuntimeError: If the installed ``pgmq`` client does not bundle it (before 1.1.3).
    """
    try:
        from pgmq.install import get_embedded_install_sql, get_embedded_sql_version
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            "PGMQ's SQL is bundled by the pgmq client from version 1.1.3: "
            "pip install 'pipebus[pgmq]' (or install the pgmq extension: CREATE EXTENSION pgmq)"
        ) from exc
    return get_embedded_install_sql(), get_embedded_sql_version()


async def install(
    connection: Any, *, with_pgmq: bool = True, grant: Sequence[str] = ()
) -> list[str]:
    """Install PGMQ (its SQL-only form, if the database has none) and the wrappers.

    One transaction on ``connection`` (an ``asyncpg`` connection of a role that may
    create schemas and functions; it owns the wrappers).

    Args:
        connection: The connection.
        with_pgmq: Install PGMQ when the database has no ``pgmq`` schema; if False, a
            database without one is an error.
        grant: Roles to grant the wrappers to.

    Returns:
        What was done, one line each.

    Raises:
        RuntimeError: If PGMQ is absent and not to be (or cannot be) installed.
        ValueError: For a role that is not a plain identifier.
    """
    done: list[str] = []
    grants = [grant_sql(role) for role in grant]
    async with connection.transaction():
        if await connection.fetchval("SELECT to_regnamespace('pgmq') IS NOT NULL"):
            done.append("PGMQ: already installed")
        elif not with_pgmq:
            raise RuntimeError(
                "this database has no PGMQ (no pgmq schema): install it first (CREATE "
                "EXTENSION pgmq, or let pipebus install its SQL-only form)"
            )
        else:
            sql, version = pgmq_install_sql()
            await connection.execute(sql)
            done.append(f"PGMQ {version}: installed (SQL-only)")
        await connection.execute(WRAPPERS_SQL)
        names = sorted({signature.split("(")[0] for signature in CALLABLE})
        done.append(f"wrappers: {', '.join(names)}")
        for role, sql in zip(grant, grants, strict=True):
            await connection.execute(sql)
            done.append(f"granted the wrappers to {role}")
    return done
