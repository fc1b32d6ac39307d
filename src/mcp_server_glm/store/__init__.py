"""The server's memory across restarts: the async jobs it submitted, the media it saved, its usage.

One interface (`Store`, in base) over two engines: SQLite in the data directory by default (sqlite), or
PostgreSQL shared by replicas when GLM_DATABASE_URL is set (postgres, whose driver loads only then).
"""

from __future__ import annotations

from .base import SETTLE_ATTEMPTS, Store
from .journal import JOURNAL_NAME
from .migrations import MIGRATIONS, POSTGRES_MIGRATIONS, SCHEMA_VERSION
from .records import MAX_UNITS, SUBMITTING, McpTask, MediaRecord, TaskRecord, UsageRow, UsageTotal
from .sqlite import DB_NAME

__all__ = [
    "DB_NAME",
    "JOURNAL_NAME",
    "MAX_UNITS",
    "MIGRATIONS",
    "POSTGRES_MIGRATIONS",
    "SCHEMA_VERSION",
    "SETTLE_ATTEMPTS",
    "SUBMITTING",
    "McpTask",
    "MediaRecord",
    "Store",
    "TaskRecord",
    "UsageRow",
    "UsageTotal",
]
