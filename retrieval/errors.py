"""Domain errors: the core raises these, and each front end turns them into a friendly message.

Every message is written for the person using citebot: it says what went wrong and how to fix it,
and never contains a secret.
"""

from __future__ import annotations


class CitebotError(Exception):
    """Base class of every error a user may see; ``str(error)`` is the message to show."""


class InvalidQuestionError(CitebotError):
    """The question is empty, too long, or has nothing to search for."""


class NoDocumentsError(CitebotError):
    """There is nothing to index, or nothing indexed to answer from."""


class DocumentError(CitebotError):
    """One document could not be read; ingest skips it and goes on with the rest."""


class IndexUnavailableError(CitebotError):
    """The index cannot be opened or written (unreachable server, corrupt files, full disk)."""


class IndexBusyError(CitebotError):
    """Another ingest is writing to the same index."""


class ConfigurationError(CitebotError):
    """A setting is missing or wrong, or an optional extra is not installed."""


class FetchError(CitebotError):
    """A web page could not be fetched: unreachable, too slow, too large, an unusable type or status.

    ``status`` is the HTTP status the server answered with, when it answered.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RefusedURLError(FetchError):
    """A URL citebot must not fetch: not http(s), or it reaches a private, loopback or metadata address."""


class PageGoneError(FetchError):
    """The server says a page is gone (404 or 410): an indexed copy of it must leave the index."""
