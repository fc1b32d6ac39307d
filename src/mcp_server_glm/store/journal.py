"""The journal: jobs the API accepted but the database could not take, kept for the next open.

One JSON line per job in the data directory (a local file, so it is written even when a PostgreSQL
server is out of reach); whichever engine opens next adds the jobs and their usage, then drops it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .records import TASK_COLUMNS, TaskRecord, UsageRow

log = logging.getLogger(__name__)

JOURNAL_NAME = "unrecorded-jobs.jsonl"


@dataclass(frozen=True, slots=True)
class Entry:
    task: tuple[Any, ...]  # the values of TASK_COLUMNS, request and result as JSON text
    usage: tuple[Any, ...] | None
    replaces: str | None
    task_id: str


def write(journal: Path, task: TaskRecord, usage: UsageRow | None, pending_id: str) -> bool:
    """Append a job to the journal (flushed to disk); False if that failed too. Blocks: run in a thread."""
    entry = {"task": dataclasses.asdict(task), "usage": usage, "replaces": pending_id}
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    try:
        fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("Job %s could not be written to the journal either: %s", task.id, exc)
        return False
    return True


def read(journal: Path) -> list[Entry] | None:
    """The journal's readable entries (an unreadable line is skipped with a warning), or None when there
    is no journal to replay."""
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("The journal %s could not be read: %s", journal, exc)
        return None
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
            task = entry["task"]
            task.setdefault("user_id", "")  # a line written before jobs had owners
            values = tuple(
                task[key]
                if key not in ("request", "result") or task[key] is None
                else json.dumps(task[key], ensure_ascii=False, separators=(",", ":"))
                for key in TASK_COLUMNS.split(", ")
            )
        except (ValueError, KeyError, TypeError):
            log.warning("Skipped an unreadable line of the journal %s", journal)
            continue
        usage = entry.get("usage")
        replaces = entry.get("replaces")
        entries.append(
            Entry(
                task=values,
                usage=tuple(usage) if isinstance(usage, list) and len(usage) in (5, 6) else None,
                replaces=replaces if isinstance(replaces, str) else None,
                task_id=str(task.get("id")),
            )
        )
    return entries
