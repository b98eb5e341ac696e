"""The exceptions sweepstore raises. Every one derives from :class:`SweepstoreError`.

Invalid arguments also derive from :class:`ValueError`, lookups that must find something from
:class:`LookupError`, server and connection failures from :class:`ConnectionError` and storage
failures from :class:`OSError`, so code that catches the built-in classes keeps working.
Bad input is rejected before anything is changed: a store is never harmed by a call that raised
one of the ``InvalidInput`` family.
"""


class SweepstoreError(Exception):
    """Base class of every sweepstore exception."""


class InvalidInput(SweepstoreError, ValueError):
    """An argument was rejected (bad mode, unknown hash, a type name taken, a value too large, ...)."""


class InvalidConfig(InvalidInput):
    """A unique config is not a finite JSON object (NaN, infinities, not a dict, unserializable values)."""


class InvalidName(InvalidInput):
    """A task name, result name or ``sub_dir`` was rejected (empty, ``..``, absolute, NUL, reserved, ...)."""


class UnknownType(InvalidInput):
    """No result type of this name is known; register custom types with ``Store.register_type``."""


class EncodeError(InvalidInput):
    """A value cannot be saved as the requested type (e.g. an unpicklable object as ``pickle``,
    a value nested deeper than 64 levels, or text written to a ``json`` file that is not one
    JSON value); nothing was stored."""


class DecodeError(SweepstoreError):
    """Stored bytes do not decode as their type."""


class NotFound(SweepstoreError, LookupError):
    """Something that must exist does not (e.g. a result opened for reading)."""


class AlreadyExists(SweepstoreError):
    """Something that must not exist does (e.g. a result opened with mode ``x``)."""


class CorruptError(SweepstoreError):
    """Stored data failed its hash check or a stored record is damaged. Nothing was returned."""


class AlreadyOpen(SweepstoreError):
    """The store is open elsewhere and cannot be joined (or a server already listens on its socket)."""


class NotAStore(SweepstoreError):
    """The path holds something that is not a sweepstore store (a file, a directory of other
    things), or a store of another format version."""


class StoreClosed(SweepstoreError):
    """The store (or file) was closed, or refuses work after an I/O failure; reopen it."""


class ServerError(SweepstoreError, ConnectionError):
    """The server (or MongoDB) is unreachable, the connection broke, or it reported a failure."""


class OutcomeUnknown(ServerError):
    """The process serving the store went away while a write was in flight and whether it was
    applied is unknown; everything acknowledged before is stored. Retrying the same save is safe
    unless another writer changed the same result meanwhile."""


class StorageError(SweepstoreError, OSError):
    """An I/O or database operation failed."""


__all__ = [name for name in dir() if name[0].isupper()]
