"""How a store is named to people (messages, the doctor): its SQLite file, or its PostgreSQL URL without
the password. Imports no driver, so the doctor can name a database it does not open.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .sqlite import DB_NAME


def redacted(url: str) -> str:
    """The URL without its password (and without its query, which may hold one too)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return "postgresql://(unreadable URL)"
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


def describe(data_dir: Path, database_url: str | None) -> str:
    """The engine and its database: 'SQLite at <file>' or 'PostgreSQL at <URL without password>'."""
    if database_url:
        return f"PostgreSQL at {redacted(database_url)}"
    return f"SQLite at {data_dir / DB_NAME}"
