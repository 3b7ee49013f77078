"""The error taxonomy shared by every part: transient errors are retried, permanent ones recorded and skipped."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base of every error this project raises on purpose."""


class TransientError(ArchiveError):
    """May succeed if tried again later: a storage outage, a timeout, a throttled request."""


class PermanentError(ArchiveError):
    """Will fail the same way again: bad input, bad configuration, missing data."""


class StorageUnavailable(TransientError):
    """The store could not be reached or refused the request for a reason that may pass."""


class ObjectNotFound(PermanentError, KeyError):
    """The key is not in the store."""

    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly
        return str(self.args[0]) if self.args else "object not found"


class AccessDenied(PermanentError):
    """The credentials lack a permission the operation needs (named in the message)."""
