"""Typed failures of the GLM API, decided by business code before HTTP status.

Every message is one line a model can act on: what happened, the HTTP status and business code,
the request id, and what to do. The API key never appears in any of them.

    GLMError                    anything that went wrong talking to the GLM API
     +-- ConnectionFailed       the API could not be reached, or stopped answering (timeout, reset)
     +-- BadResponse            the API answered with something that is not the documented shape
     +-- StreamBroken           a streamed answer broke off before any content arrived
     +-- APIError               the API answered with an error envelope
          +-- AuthenticationFailed   401, codes 1000-1004: the key was refused
          +-- QuotaExhausted         no balance, plan limits, fair-use restriction: not worth retrying
          +-- RateLimited            1302/1303/1305/1312, 1701 (searches): busy, worth retrying later
          +-- ContentFiltered        1301, or a stream stopped with finish_reason "sensitive"
          +-- InvalidRequest         a parameter, model name or prompt was refused
          +-- SearchUnavailable      1702 no search engine available, 1703 the engine returned no data
          +-- ServerFailed           5xx: the platform failed
"""

from __future__ import annotations

import re

RETRYABLE_CODES = frozenset({"1302", "1303", "1305", "1312", "1701"})
# The Web Search API's own failures: no engine could take the search, or the one that did found nothing.
SEARCH_CODES = frozenset({"1702", "1703"})
NO_SEARCH_DATA = "1703"
QUOTA_CODES = frozenset(
    {"1110", "1111", "1112", "1113", "1121", "1304", "1308", "1309", "1310", "1311", "1313"}
)
AUTH_CODES = frozenset({"1000", "1001", "1002", "1003", "1004"})

HINTS: dict[str, str] = {
    "1113": "the account has no balance or resource package: top it up, or use a key that belongs to "
    "this endpoint (a Coding Plan key works only on the coding endpoint)",
    "1110": "the account is not active: check it in the platform console",
    "1111": "the account does not exist: check the API key",
    "1112": "the account is locked: check it in the platform console",
    "1121": "the account is locked for irregular activity: contact the platform",
    "1304": "the daily call limit of this key is reached: it resets at midnight",
    "1308": "the plan's usage limit is reached: wait until the reset time in the message",
    "1309": "the GLM Coding Plan has expired: renew it, or use a pay-as-you-go key",
    "1310": "the weekly or monthly limit is used up: wait until the reset time in the message",
    "1311": "the plan does not include this model: choose a model the plan covers",
    "1313": "requests are restricted under the fair-use policy: slow down and try again later",
    "1302": "too many concurrent requests on this account: wait a little or lower concurrency",
    "1303": "requests are too frequent: wait a little and try again",
    "1305": "the platform is overloaded: try again shortly",
    "1312": "the model is under high traffic: try again shortly or use another model",
    "1301": "the platform's content filter blocked the input or output: rephrase the request",
    "1211": "the model name is unknown on this platform: check the model code",
    "1261": "the prompt is longer than the model accepts: shorten it",
    "1210": "the API refused a parameter: check the arguments",
    "1213": "a required parameter is missing",
    "1214": "the API refused a parameter value: check the arguments",
    "1220": "this key has no permission for this API",
    "1231": "the request id was already used",
    "1701": "too many concurrent web searches on this account: wait a little or search less at once",
    "1702": "no search engine is available for this search now: try another engine, or again later",
    "1703": "the search engine returned no data: broaden or rephrase the query",
}


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so a message stays on one line, and cap its length."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class GLMError(Exception):
    """Anything that went wrong talking to the GLM API."""

    retryable: bool = False

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        self.request_id = request_id
        super().__init__(one_line(message, limit=600))


class ConnectionFailed(GLMError):
    """The API could not be reached, or stopped answering."""

    retryable = True

    def __init__(self, message: str, *, request_id: str | None = None, reached: bool = True) -> None:
        # A connect error certainly did not reach the API; anything later may have.
        self.reached = reached
        super().__init__(message, request_id=request_id)


class BadResponse(GLMError):
    """The API answered with something that is not the documented shape."""

    def __init__(self, message: str, *, status: int, request_id: str | None = None) -> None:
        self.status = status
        super().__init__(message, request_id=request_id)


class StreamBroken(GLMError):
    """A streamed answer broke off before any content arrived."""

    retryable = True


class APIError(GLMError):
    """The API answered with an error envelope."""

    def __init__(
        self,
        *,
        status: int,
        code: str | None,
        message: str,
        request_id: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.api_message = one_line(message)
        self.retry_after = retry_after
        self.hint = hint or HINTS.get(code or "", "")
        where = f"HTTP {status}, code {code}" if code else f"HTTP {status}"
        text = f"GLM API error ({where}): {self.api_message or 'no message'}"
        if request_id:
            text += f" [request {request_id}]"
        if self.hint:
            text += f". {self.hint[0].upper()}{self.hint[1:]}."
        super().__init__(text, request_id=request_id)


class AuthenticationFailed(APIError):
    """The API key was refused."""


class QuotaExhausted(APIError):
    """No balance, a plan limit or a fair-use restriction: retrying now does not help."""


class RateLimited(APIError):
    """The platform is busy or the account's concurrency is used up: worth retrying later."""

    retryable = True


class ContentFiltered(APIError):
    """The platform's content filter stopped the input or the output."""


class InvalidRequest(APIError):
    """A parameter, model name or prompt was refused."""


class SearchUnavailable(APIError):
    """The Web Search API had no engine for the search (1702), or its engine returned no data (1703)."""


class ServerFailed(APIError):
    """The platform failed (5xx)."""

    retryable = True


def classify(status: int, code: str | None) -> type[APIError]:
    """The error kind for an HTTP status and business code; the code decides where it is known."""
    if code == "1301":
        return ContentFiltered
    if code in AUTH_CODES or status == 401:
        return AuthenticationFailed
    if code in QUOTA_CODES:
        return QuotaExhausted
    if code in SEARCH_CODES:
        return SearchUnavailable
    if code in RETRYABLE_CODES or status == 429:
        # A 429 without a known code is treated as busy, as the platform's own SDKs do.
        return RateLimited
    if status >= 500 or status == 408 or code in {"1230", "1234", "500"}:
        return ServerFailed
    return InvalidRequest
