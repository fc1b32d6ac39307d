"""Redaction of secrets from text: the one place that decides what of a key may never be shown.

A secret is hidden in every form a library or an upstream server may print it in (as is, in a Python
or bytes repr, JSON-escaped, URL-encoded) and so is any run of 8 or more of its leading characters,
so a message cut short, or a key followed by a stray line ending, shows nothing of it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

MASK = "***"
MIN_PREFIX = 8  # leading characters of a secret that are already too much to show


class Redactor:
    """Hides the given secrets (None and empty ones are ignored) from text and from parsed JSON."""

    def __init__(self, *secrets: str | None) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            for text in (secret, secret.strip()):
                forms.update(
                    (
                        text,
                        repr(text)[1:-1],
                        repr(text.encode("utf-8", "backslashreplace"))[2:-1],
                        json.dumps(text)[1:-1],
                        quote(text, safe=""),
                    )
                )
        forms.discard("")
        # Longest first, so a form is never cut short by another that starts like it.
        self._forms = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        """`text` with every form of every secret, and every leading run of 8+ characters, masked."""
        for form in self._forms:
            text = _mask(text, form)
        return text

    def scrub(self, value: Any) -> Any:
        """Parsed JSON with every string in it (keys included) made valid text and redacted; other
        values as they are. JSON may carry lone surrogates (`"\\ud800"`), which no UTF-8 output, log
        or database can take: each becomes `?`."""
        if isinstance(value, str):
            return self(valid_text(value))
        if isinstance(value, dict):
            return {self.scrub(str(key)): self.scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value


def valid_text(text: str) -> str:
    """`text` as it can be encoded in UTF-8: a lone surrogate becomes `?`."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _mask(text: str, form: str) -> str:
    head = form[:MIN_PREFIX] if len(form) > MIN_PREFIX else form
    start = text.find(head)
    if start < 0:
        return text
    parts: list[str] = []
    done = 0
    while start >= 0:
        end = start + len(head)
        # Extend over as much of the secret as follows here.
        while end < len(text) and end - start < len(form) and text[end] == form[end - start]:
            end += 1
        parts += [text[done:start], MASK]
        done = end
        start = text.find(head, done)
    parts.append(text[done:])
    return "".join(parts)
