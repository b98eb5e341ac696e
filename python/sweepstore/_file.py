"""Opened results as Python file objects (``Store.open``): usable with ``with``, ``json.dump``,
``numpy.save`` and fluidml's ``File.load``/``File.save``.

A file opened for writing stores nothing until it is closed; leaving a ``with`` block by an
exception discards what was written instead (the result keeps its earlier value, if any).
"""

from __future__ import annotations

import io
from typing import Any, Optional

from . import _native
from ._values import Types, decode, encode


class _Raw(io.RawIOBase):
    """The native file as a raw byte stream for ``io``'s buffers."""

    def __init__(self, native: _native.NativeFile) -> None:
        super().__init__()
        self._native = native
        self.discarded = False

    def readable(self) -> bool:
        return self._native.readable()

    def writable(self) -> bool:
        return self._native.writable()

    def seekable(self) -> bool:
        return self._native.seekable()

    def readinto(self, buffer: Any) -> int:
        data = self._native.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self._native.read(-1)

    def write(self, data: Any) -> int:
        if self.discarded:  # a buffer flushing into a discarded file: nothing is kept
            return len(data)
        return self._native.write(bytes(data))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._native.seek(offset, whence)

    def tell(self) -> int:
        return self._native.seek(0, 1)

    def truncate(self, size: Optional[int] = None) -> int:
        return self._native.truncate(size)

    def close(self) -> None:
        if not self.closed:
            try:
                self._native.close()
            finally:
                super().close()


class File:
    """An opened result. Has the methods of a Python file object (``read``, ``write``,
    ``seek``, ``readline``, iteration, ...) plus fluidml's ``load``/``save``, which decode or
    encode with the result's type."""

    def __init__(self, native: _native.NativeFile, mode: str, types: Types) -> None:
        self._native = native
        self.mode = mode
        self.type_name: str = native.type_name()
        self._types = types
        raw = self._raw = _Raw(native)
        if raw.readable() and raw.writable():
            buffered: Any = io.BufferedRandom(raw)
        elif raw.writable():
            buffered = io.BufferedWriter(raw)
        else:
            buffered = io.BufferedReader(raw)
        self._binary = "b" in mode
        self._io: Any = buffered if self._binary else io.TextIOWrapper(buffered, encoding="utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._io, name)

    def __iter__(self) -> Any:
        return iter(self._io)

    def __enter__(self) -> "File":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def close(self) -> None:
        """Publishes what was written (writable modes) and closes."""
        self._io.close()

    def discard(self) -> None:
        """Closes without publishing anything written."""
        self._raw.discarded = True
        self._native.discard()
        self._io.close()

    def load(self, **kwargs: Any) -> Any:
        """Reads the rest of the file and decodes it with the result's type."""
        data = self._io.read()
        if not self._binary:
            data = data.encode()
        return decode(self.type_name, data, self._types, **kwargs)

    def save(self, obj: Any, **kwargs: Any) -> None:
        """Encodes ``obj`` with the result's type and writes it."""
        _, data = encode(obj, self.type_name, self._types, **kwargs)
        self._io.write(data if self._binary else data.decode())
