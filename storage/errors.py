"""The error taxonomy shared by every part: input errors fail at once, transient ones are
retried, permanent ones are recorded and skipped. Messages name the key or path, never bytes."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base of every error this project raises on purpose."""


class TransientError(ArchiveError):
    """May succeed if tried again later: a storage outage, a timeout, a throttled request."""


class PermanentError(ArchiveError):
    """Will fail the same way again: bad input, bad configuration, missing data."""


class StorageUnavailable(TransientError):
    """The store could not be reached or refused the request for a reason that may pass."""


class StorageRefused(PermanentError):
    """The store will not take the write until someone acts: disk full, read-only file system,
    no permission on the path. Retrying in a few minutes would only crawl the sites again."""


class ObjectNotFound(PermanentError, KeyError):
    """The key is not in the store (confirmed by the store, never inferred from another error)."""

    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly
        return str(self.args[0]) if self.args else "object not found"


class ObjectExists(PermanentError):
    """A create-only write found the key already holding other bytes: the archive is write-once."""


class AccessDenied(PermanentError):
    """The credentials lack a permission the operation needs (named in the message)."""


class CorruptObject(PermanentError):
    """An object the archive committed does not read back as committed (digest, format)."""


class InputError(PermanentError):
    """What a user typed is wrong (a param, an option): fail at once with one line, never retry."""
