"""The store's schema, versioned: the steps that bring each engine's database up to date.

Step i brings the schema from version i to version i + 1, on SQLite (its user_version) and on PostgreSQL
(the glm_schema table) alike. Append new steps to both lists; never edit old ones.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            result TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX tasks_created_at ON tasks (created_at)",
        """CREATE TABLE media (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            source_url TEXT NOT NULL,
            task_id TEXT,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            tool TEXT NOT NULL,
            model TEXT NOT NULL,
            units INTEGER NOT NULL,
            unit TEXT NOT NULL,
            at REAL NOT NULL
        )""",
    ),
    # Which process is saving a finished job's media, and until when its claim holds.
    (
        "ALTER TABLE tasks ADD COLUMN claimed_by TEXT",
        "ALTER TABLE tasks ADD COLUMN claimed_until REAL",
    ),
    # MCP tasks (the protocol's task handles): each maps an unguessable id to the GLM job it follows
    # (job_id, none for a run of a tool in this process), with its status, final result and lifetime.
    (
        """CREATE TABLE mcp_tasks (
            id TEXT PRIMARY KEY,
            tool TEXT NOT NULL,
            job_id TEXT,
            status TEXT NOT NULL,
            message TEXT,
            result TEXT,
            ttl_ms INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX mcp_tasks_created_at ON mcp_tasks (created_at)",
    ),
    # The signed-in user (the token's sub) each job, usage row and MCP task belongs to; '' without sign-in.
    (
        "ALTER TABLE tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE usage ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE mcp_tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE media ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX usage_user_tool_at ON usage (user_id, tool, at)",
    ),
    # Leases on work replicas share (polling a job, a run of a tool): who holds each key, and until when.
    (
        """CREATE TABLE leases (
            key TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at REAL NOT NULL
        )""",
    ),
]

# The same schema on PostgreSQL: times are unix seconds in double precision as on SQLite, counts are
# 64-bit, and `seq` stands in for SQLite's rowid (the order of rows recorded within one clock tick).
POSTGRES_MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            result TEXT,
            error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            seq BIGSERIAL NOT NULL
        )""",
        "CREATE INDEX tasks_created_at ON tasks (created_at)",
        """CREATE TABLE media (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            size BIGINT NOT NULL,
            source_url TEXT NOT NULL,
            task_id TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            seq BIGSERIAL NOT NULL
        )""",
        """CREATE TABLE usage (
            id BIGSERIAL PRIMARY KEY,
            tool TEXT NOT NULL,
            model TEXT NOT NULL,
            units BIGINT NOT NULL,
            unit TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL
        )""",
    ),
    (
        "ALTER TABLE tasks ADD COLUMN claimed_by TEXT",
        "ALTER TABLE tasks ADD COLUMN claimed_until DOUBLE PRECISION",
    ),
    (
        """CREATE TABLE mcp_tasks (
            id TEXT PRIMARY KEY,
            tool TEXT NOT NULL,
            job_id TEXT,
            status TEXT NOT NULL,
            message TEXT,
            result TEXT,
            ttl_ms BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX mcp_tasks_created_at ON mcp_tasks (created_at)",
    ),
    (
        "ALTER TABLE tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE usage ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE mcp_tasks ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE media ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX usage_user_tool_at ON usage (user_id, tool, at)",
    ),
    (
        """CREATE TABLE leases (
            key TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)
assert len(POSTGRES_MIGRATIONS) == SCHEMA_VERSION, "a migration step is missing on one engine"

# The key of the PostgreSQL advisory lock that one replica at a time holds while migrating.
MIGRATION_LOCK = 0x676C6D5F73746F72  # "glm_stor"
