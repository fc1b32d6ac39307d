"""The redaction of secrets (glm/redact.py): every form a key may be printed in, and any cut of it."""

from __future__ import annotations

import json
from urllib.parse import quote

from mcp_server_glm.glm.redact import MASK, Redactor
from tests.conftest import CANARY_KEY

redact = Redactor(CANARY_KEY)


def test_every_printed_form_of_the_key_is_masked() -> None:
    crlf = CANARY_KEY + "\r\n"
    forms = [
        CANARY_KEY,
        repr(crlf),
        repr(f"Bearer {crlf}".encode()),
        json.dumps({"key": crlf}),
        quote(CANARY_KEY, safe=""),
        f"Illegal header value b'Bearer {CANARY_KEY}\\r'",
    ]
    for text in forms:
        masked = redact(f"before {text} after")
        assert CANARY_KEY[:8] not in masked, masked
        assert masked.startswith("before ") and masked.endswith(" after")


def test_a_cut_key_is_masked_from_eight_characters() -> None:
    assert redact(f"the key {CANARY_KEY[:8]}… was refused") == f"the key {MASK}… was refused"
    assert redact(f"x{CANARY_KEY[:20]}y{CANARY_KEY[:9]}") == f"x{MASK}y{MASK}"
    assert redact(CANARY_KEY[:7]) == CANARY_KEY[:7]  # too little of it to tell, and to hide


def test_a_short_secret_is_masked_only_whole() -> None:
    short = Redactor("abc123")
    assert short("abc123 and abc12") == f"{MASK} and abc12"


def test_no_secret_changes_nothing() -> None:
    nothing = Redactor(None, "")
    assert not nothing
    assert nothing(CANARY_KEY) == CANARY_KEY
    assert nothing.scrub({"a": [CANARY_KEY]}) == {"a": [CANARY_KEY]}


def test_scrub_reaches_every_string_of_parsed_json() -> None:
    data = {"error": {"code": CANARY_KEY, "message": [f"x {CANARY_KEY}"]}, CANARY_KEY: 1, "n": 2**70}
    scrubbed = redact.scrub(data)
    assert CANARY_KEY[:8] not in json.dumps(scrubbed)
    assert scrubbed == {"error": {"code": MASK, "message": [f"x {MASK}"]}, MASK: 1, "n": 2**70}


def test_scrub_makes_lone_surrogates_valid_text() -> None:
    assert redact.scrub({"t\ud800": ["a\udc00b", "ok ✓"]}) == {"t?": ["a?b", "ok ✓"]}
