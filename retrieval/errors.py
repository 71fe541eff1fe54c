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
