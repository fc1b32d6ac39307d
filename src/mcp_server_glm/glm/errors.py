"""The mapping from the GLM API's answers to errors: business codes first, then HTTP status.

The error classes themselves, and the tree they form, are in `mcp_server_glm.errors`; here are the codes
each kind stands for, what to do about each code (`HINTS`), and `classify`.
"""

from __future__ import annotations

from ..errors import (
    APIError,
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    QuotaExhausted,
    RateLimited,
    SearchUnavailable,
    ServerFailed,
)

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
