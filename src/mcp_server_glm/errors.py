"""Every failure the server raises, in one tree: what went wrong talking to the GLM API, and the
server's own refusals. `GLMServer.call_tool` turns any of them into the one line a user reads.

    Exception
     +-- GLMError                    anything that went wrong talking to the GLM API (raised in glm/)
     |    +-- ConnectionFailed       the API could not be reached, or stopped answering (timeout, reset)
     |    +-- BadResponse            the API answered with something that is not the documented shape
     |    +-- StreamBroken           a streamed answer broke off before any content arrived
     |    |    +-- BrokeAfterReasoning   ... after the reasoning, before any answer text
     |    +-- APIError               the API answered with an error envelope
     |         +-- AuthenticationFailed   401, codes 1000-1004: the key was refused
     |         +-- QuotaExhausted         no balance, plan limits, fair-use restriction: not worth retrying
     |         +-- RateLimited            1302/1303/1305/1312, 1701 (searches): busy, worth retrying later
     |         +-- ContentFiltered        1301, or a stream stopped with finish_reason "sensitive"
     |         +-- InvalidRequest         a parameter, model name or prompt was refused
     |         +-- SearchUnavailable      1702 no search engine available, 1703 the engine returned no data
     |         +-- ServerFailed           5xx: the platform failed
     +-- Refusal                     the server's own refusal: one line naming the input, file, store or limit
     |    +-- BadArguments           a tool's own check of its arguments (the model's documented limits)
     |    +-- NotConfigured          no API key is configured
     |    +-- NotOnPlatform          a tool of the other platform than the one configured
     |    +-- NotConfirmed           the person did not confirm a paid job: nothing was sent
     |    +-- CapReached             a tool's daily cap (GLM_MAX_..._PER_DAY) is used up
     |    +-- StoreError             the task store could not be opened, read or written
     |    +-- AudioError             audio that cannot be measured or cut
     |    +-- ImageRefused           an image the chat API would not take and that cannot be made fit
     |    +-- PreviewRefused         an image no preview can be made of
     |    +-- FileRefused            an input or output file or URL the server will not use
     |    +-- NotPermitted           the signed-in caller lacks the tool's scope, or is past its rate limit
     +-- JobError                    an async job that cannot be followed or collected (names the task)
     |    +-- JobFailed              the platform says the job failed
     |    +-- JobCutShort            its submission was cut short: the task id is unknown
     |    +-- JobUnchecked           the API could not be asked how the job stands
     |    +-- JobUnsaved             the job succeeded but its media could not be saved
     +-- ConfigError                 settings the server refuses to start with
     +-- Damaged                     bytes that start like a format but are not that format (the files
     |                               package reports it as a refused file)
     +-- InputRefused                inside the files package: why an input is refused (becomes FileRefused)
     +-- FetchFailed                 inside the files package: why a fetch failed (becomes FileRefused)

Every message is one line a model can act on: what happened and what to do; the API key never appears
in any of them. The boundary adds the settings to check to an AuthenticationFailed. Which response
becomes which GLMError is decided in `glm/errors.py`. This module imports nothing but the standard
library: `glm/` uses it without the MCP SDK.
"""

from __future__ import annotations

import re


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so a message stays on one line, and cap its length."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- the GLM API ---------------------------------------------------------------------------------


class GLMError(Exception):
    """Anything that went wrong talking to the GLM API."""

    retryable: bool = False
    # How the retry loop ended, set by it (GLMClient._with_retries) and added to the message by __str__:
    # the attempts made, whether a request that may have reached the API was held back, and the
    # (seconds to the next retry, deadline) that stopped it.
    attempts: int = 1
    held_back: bool = False
    deadline: tuple[float, float] | None = None

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        self.request_id = request_id
        super().__init__(one_line(message, limit=600))

    def __str__(self) -> str:
        text = super().__str__()
        if self.held_back:
            text += " (not re-sent: the API may have accepted it already)"
        if self.deadline is not None:
            delay, deadline = self.deadline
            text += (
                f" (gave up after {self.attempts} attempts: the next retry, in {delay:.0f} s, would pass "
                f"the {deadline:.0f} s deadline)"
            )
        elif self.attempts > 1:
            text += f" (gave up after {self.attempts} attempts)"
        return text


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


class BrokeAfterReasoning(StreamBroken):
    """A streamed answer broke off after the model's reasoning but before any answer text: nothing a
    caller can use arrived, so it is a failure (retried once), not an incomplete answer."""


class APIError(GLMError):
    """The API answered with an error envelope; `hint` (what to do) is decided with the kind."""

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
        self.hint = hint or ""
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


# -- the server's own refusals -------------------------------------------------------------------


class Refusal(Exception):
    """A failure whose message is one line a model can act on (it names the input, file or store)."""


class BadArguments(Refusal):
    """A tool's arguments break a documented limit of the model or platform; the message names it."""


class NotConfigured(Refusal):
    """No GLM API key is configured; the message says how to set one."""


class NotOnPlatform(Refusal):
    """A tool the configured platform does not have; the message names the platform that has it."""


class NotConfirmed(Refusal):
    """The person did not confirm a paid job, so nothing was sent or billed."""


class CapReached(Refusal):
    """A tool's daily cap is used up; the message says when it resets."""


class StoreError(Refusal):
    """The store could not be opened, read or written; the message names the database (its file, or its
    PostgreSQL URL without the password) and why."""


class AudioError(Refusal):
    """Audio that cannot be measured or cut; the message says what to do."""


class ImageRefused(Refusal):
    """An image the chat API would not take and that cannot be made fit; str() is one line."""


class PreviewRefused(Refusal):
    """An image no preview can be made of (unreadable, or too large a canvas); str() is one line."""


class FileRefused(Refusal):
    """An input or output the server will not use; str() is one line a model can act on, e.g.
    'image "/home/u/.ssh/id_rsa" is refused: hidden files and directories (".ssh") are never read'."""


# -- async jobs ----------------------------------------------------------------------------------


class NotPermitted(Refusal):
    """The signed-in caller's token lacks the scope a tool needs, or the caller is past the per-user
    rate limit; the message names the scope or the limit."""


class JobError(Exception):
    """An async job that cannot be followed or collected; the message names the task and what to do."""


class JobFailed(JobError):
    """The platform reports the job failed (now, or as the store recorded it)."""


class JobCutShort(JobError):
    """The job's submission was cut short before the API gave its id: it cannot be followed."""


class JobUnchecked(JobError):
    """The API could not be asked how the job stands (`cause`), or does not know it; the message says
    whether the task is still recorded to follow later."""

    def __init__(self, task_id: str, cause: GLMError, *, recorded: bool) -> None:
        self.task_id = task_id
        if isinstance(cause, InvalidRequest) and not recorded:
            text = (
                f"No task {task_id}: this server never submitted it and the GLM API does not know it "
                f"({cause})"
            )
        elif isinstance(cause, InvalidRequest):
            text = f"Task {task_id} could not be checked: {cause}"
        else:
            later = f" The task is still recorded: call get_task with task_id {task_id} later."
            later = later if recorded else ""
            text = f"Task {task_id} could not be checked: {str(cause).rstrip('.')}.{later}"
        super().__init__(text)


class JobUnsaved(JobError):
    """The job succeeded but its media could not be saved (`why`); get_task tries again."""

    def __init__(self, task_id: str, why: str) -> None:
        self.task_id = task_id
        retry = f"The job itself succeeded: call get_task with task_id {task_id} to try saving it again."
        super().__init__(f"{why.rstrip('.')}. {retry}")


# -- start-up and files --------------------------------------------------------------------------


class ConfigError(Exception):
    """A configuration the server refuses to start with; the message says what to change."""


class Damaged(Exception):
    """Why bytes that start like a format are not that format: "its chunk IDAT has a bad CRC"."""


class InputRefused(Exception):
    """Why the files package refuses an input or a URL; the caller adds what was refused."""


class FetchFailed(Exception):
    """Why a fetch failed (network, status, size, time); the caller adds the URL."""
