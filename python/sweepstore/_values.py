"""Python values as stored bytes: the built-in result types and custom :class:`TypeInfo` types.

One meaning per type name, shared with the Rust crate, the CLI and fluidml trees:

``pickle``
    Python's pickle (protocol 4). Any picklable object round-trips in Python. Plain data
    (dict, list, tuple, set, str, bytes, int, float, bool, None) is also readable from Rust and
    the CLI, as JSON. Loading runs Python's unpickler, which can execute code: load pickles
    only from stores you trust.
``json``
    ``json.dumps`` text (NaN and infinities are refused: they are not JSON).
``text``
    A ``str``, stored as UTF-8.
``bytes`` / ``binary``
    A bytes-like object, stored as it is under ``bytes``. (Rust's ``binary`` is postcard, which
    has no meaning in Python: loading such a value gives its raw bytes.)
custom
    A :class:`TypeInfo` registered on the store under its name.
"""

from __future__ import annotations

import io
import json
import pickle
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import DecodeError, EncodeError, InvalidInput, UnknownType

PICKLE_PROTOCOL = 4
BUILTIN_TYPES = ("pickle", "json", "text", "bytes", "binary")


class TypeInfo:
    """A custom result type (fluidml's ``TypeInfo``): how to save and load its values.

    Args:
        save_fn: ``save_fn(obj, file, **kwargs)`` writes ``obj`` to ``file`` (a binary file
            object, or a text one if ``is_binary`` is false).
        load_fn: ``load_fn(file, **kwargs)`` reads the value back from such a file.
        extension: The file extension stores with paths give its values (without the dot).
        is_binary: Whether the values are binary (default) or text.

    Example, numpy arrays as ``.npy``::

        store.register_type("npy", TypeInfo(lambda a, f: numpy.save(f, a), numpy.load, "npy"))
    """

    def __init__(
        self,
        save_fn: Callable[..., None],
        load_fn: Callable[..., Any],
        extension: str = "bin",
        is_binary: bool = True,
    ) -> None:
        if not callable(save_fn) or not callable(load_fn):
            raise InvalidInput("TypeInfo needs callable save_fn and load_fn")
        self.save_fn = save_fn
        self.load_fn = load_fn
        self.extension = extension
        self.is_binary = is_binary

    def encode(self, obj: Any, **kwargs: Any) -> bytes:
        buffer = io.BytesIO()
        target: Any = buffer if self.is_binary else io.TextIOWrapper(buffer, encoding="utf-8")
        self.save_fn(obj, target, **kwargs)
        target.flush()
        return buffer.getvalue()

    def decode(self, data: bytes, **kwargs: Any) -> Any:
        source: Any = io.BytesIO(data)
        if not self.is_binary:
            source = io.TextIOWrapper(source, encoding="utf-8")
        return self.load_fn(source, **kwargs)


Types = Dict[str, TypeInfo]


def encode(obj: Any, type_: Optional[str], types: Types, **kwargs: Any) -> Tuple[str, bytes]:
    """``(type name, bytes)`` to store ``obj`` as ``type_`` (``None`` means ``pickle``)."""
    type_ = "pickle" if type_ is None else type_
    try:
        if type_ in types:
            return type_, types[type_].encode(obj, **kwargs)
        if type_ == "pickle":
            return type_, pickle.dumps(obj, protocol=kwargs.pop("protocol", PICKLE_PROTOCOL), **kwargs)
        if type_ == "json":
            return type_, json.dumps(obj, allow_nan=False, **kwargs).encode()
        if type_ == "text":
            if not isinstance(obj, str):
                raise EncodeError(f"type `text` holds str values, not {type(obj).__name__}")
            return type_, obj.encode()
        if type_ in ("bytes", "binary"):
            if not isinstance(obj, (bytes, bytearray, memoryview)):
                raise EncodeError(f"type `{type_}` holds bytes-like values, not {type(obj).__name__}")
            return "bytes", bytes(obj)
    except EncodeError:
        raise
    except Exception as e:  # the codec's own error, whatever the object raised
        raise EncodeError(f"cannot save a {type(obj).__name__} as type `{type_}`: {e}") from e
    raise UnknownType(
        f"unknown result type `{type_}`; built-in types are {', '.join(BUILTIN_TYPES)}, "
        "register others with Store.register_type(name, TypeInfo(...))"
    )


def decode(type_name: str, data: bytes, types: Types, **kwargs: Any) -> Any:
    """The Python value of stored ``data`` of type ``type_name``."""
    try:
        if type_name in types:
            return types[type_name].decode(data, **kwargs)
        if type_name in ("pickle", "python_pickle"):
            return pickle.loads(data, **kwargs)
        if type_name == "json":
            return json.loads(data, **kwargs)
        if type_name == "text":
            return data.decode()
        if type_name in ("bytes", "binary"):
            return data
    except Exception as e:
        raise DecodeError(f"cannot load a stored `{type_name}` value: {e}") from e
    raise UnknownType(
        f"the stored value has type `{type_name}`, which this store does not know; register it "
        "with Store.register_type(name, TypeInfo(...)) before loading"
    )
