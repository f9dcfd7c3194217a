"""The data a task carries: bytes on the wire, JSON by default, with typed getters.

Go asynq stores a task's payload as bytes and Go users put JSON there, so a :class:`Payload` is
always backed by bytes. Python values are JSON-encoded once, in the constructor (so bad input fails
at the call that caused it), with sorted keys (so the same dict always yields the same bytes, which
uniqueness locks hash). The getters mirror the seed's ``GetXxx`` helpers: Go's ``(value, error)``
becomes "return the value or raise :class:`~asynq.errors.PayloadError`".
"""

from __future__ import annotations

import json
import math
import pickle
import re
import reprlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, Callable, Generic, TypeVar

from asynq.errors import PayloadError

__all__ = ["PICKLE_CONTENT_TYPE", "Payload"]

T = TypeVar("T")

_JSON_HINT = "pass bytes, or JSON data (dict, list, str, int, float, bool, None; datetime, date, timedelta)"
_REPR_LIMIT = 64
_PREVIEW = reprlib.Repr()
_PREVIEW.maxstring = _PREVIEW.maxother = 40
_UNDECODED: Any = object()
PICKLE_CONTENT_TYPE = "application/x-cloudpickle"
"""The ``content-type`` header value of a cloudpickle payload (see :mod:`asynq.codecs`)."""

_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOL_WORDS = {  # exactly the words Go's strconv.ParseBool accepts
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?",
    re.ASCII,
)
_DURATION_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
                      "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION_RE = re.compile(rf"([+-]?)((?:{_DURATION_PART})+)")
_DURATION_PART_RE = re.compile(_DURATION_PART)


def _type_name(value: object) -> str:
    """The name of ``value``'s type, module-qualified unless it is a builtin."""
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _describe(value: object) -> str:
    """Type and short preview of a value, for error messages: ``str 'abc'``."""
    return "None" if value is None else f"{_type_name(value)} {_PREVIEW.repr(value)}"


def _encode_default(value: Any) -> Any:
    """``json.dumps`` hook for the non-JSON types a payload may hold."""
    if isinstance(value, date):  # datetime is a date too; both have isoformat()
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"a value of type {_type_name(value)} is not JSON-serialisable")


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False,
    allow_nan=False, default=_encode_default)``, at half the cost per call.

    ``JSONEncoder.encode`` builds a C encoder on every call; we build it once. It is made
    without a circular-reference check (whose state it would share between threads): a
    circular payload ends in RecursionError instead, which the caller reports as such.
    """
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # no C accelerator (PyPy, say): the standard encoder, alike
        return json.JSONEncoder(
            separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False,
            check_circular=False, default=_encode_default,
        ).encode
    c_encode = make_c_encoder(
        None, _encode_default, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return lambda data: "".join(c_encode(data, 0))


_encode_json = _json_encoder()


def _reject_constant(name: str) -> Any:
    """``json.loads`` hook: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


# --- conversion rules ------------------------------------------------------------------------------
# A ``parse`` function returns the converted value or raises ValueError/OverflowError; a _Converter
# names the wanted type and turns those into a _Mismatch, which the getter reports with the key.


class _Mismatch(Exception):
    """Internal: ``value`` (at ``path`` below the key) does not convert to ``wanted``."""

    def __init__(self, wanted: str, value: Any, path: str = "") -> None:
        super().__init__(wanted)
        self.wanted = wanted
        self.value = value
        self.path = path


@dataclass(frozen=True)
class _Converter(Generic[T]):
    """A conversion rule with the name of the type it produces."""

    wanted: str
    parse: Callable[[Any], T]

    def __call__(self, value: Any) -> T:
        try:
            return self.parse(value)
        except (ValueError, OverflowError, OSError):  # OSError: fromtimestamp out of range on some OSes
            raise _Mismatch(self.wanted, value) from None


def _at(step: str, converter: _Converter[T], value: Any) -> T:
    """Convert an element of a container, prefixing ``step`` to the path of any mismatch."""
    try:
        return converter(value)
    except _Mismatch as exc:
        raise _Mismatch(exc.wanted, exc.value, step + exc.path) from None


def _list_of(item: _Converter[T]) -> _Converter[list[T]]:
    """Rule for a JSON array whose every element converts by ``item``."""

    def parse(value: Any) -> list[T]:
        if not isinstance(value, list):
            raise ValueError("not a JSON array")
        return [_at(f"[{index}]", item, element) for index, element in enumerate(value)]

    return _Converter(f"list[{item.wanted}]", parse)


def _dict_of(item: _Converter[T]) -> _Converter[dict[str, T]]:
    """Rule for a JSON object whose every value converts by ``item``."""

    def parse(value: Any) -> dict[str, T]:
        return {key: _at(f"[{key!r}]", item, element) for key, element in _parse_dict(value).items()}

    return _Converter(f"dict[str, {item.wanted}]", parse)


def _parse_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise ValueError("not a scalar")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("bool is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    raise ValueError("not an integer")


def _parse_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("bool is not a number")
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip())):
        result = float(value)
        if math.isfinite(result):
            return result
    raise ValueError("not a finite number")


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and (word := value.strip()) in _BOOL_WORDS:
        return _BOOL_WORDS[word]
    raise ValueError("not a boolean")


def _parse_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)  # a copy, so callers can't alter the cached decoded payload
    raise ValueError("not a JSON object")


def _parse_time(value: Any) -> datetime:
    """RFC 3339 / ISO-8601 string (naive means UTC) or unix seconds, as an aware datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    match = _TIME_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError("not a timestamp")
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        tz = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                    int((fraction or "")[:6].ljust(6, "0")), tzinfo=tz)


def _parse_duration(value: Any) -> timedelta:
    """Seconds (number or numeric string) or a Go duration string such as ``"1h30m"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = value.strip() if isinstance(value, str) else ""
    if _NUMBER_RE.fullmatch(text):
        return timedelta(seconds=float(text))
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise ValueError("not a duration")
    nanos = sum(Fraction(number) * _DURATION_UNITS_NS[unit]
                for number, unit in _DURATION_PART_RE.findall(match.group(2)))
    micros = int(nanos / 1_000)  # int() truncates toward zero, as Go drops sub-unit precision
    return timedelta(microseconds=-micros if match.group(1) == "-" else micros)


_STR = _Converter("str", _parse_str)
_INT = _Converter("int", _parse_int)
_FLOAT = _Converter("float", _parse_float)
_BOOL = _Converter("bool", _parse_bool)
_DICT = _Converter("dict", _parse_dict)
_TIME = _Converter("datetime", _parse_time)
_DURATION = _Converter("timedelta", _parse_duration)
_STR_LIST = _list_of(_STR)
_INT_LIST = _list_of(_INT)
_STR_DICT = _dict_of(_STR)
_STR_LIST_DICT = _dict_of(_STR_LIST)
_INT_DICT = _dict_of(_INT)
_BOOL_DICT = _dict_of(_BOOL)


class Payload:
    """Bytes a task carries, built from raw bytes or from JSON-able data; immutable."""

    __slots__ = ("_raw", "_data", "_pickled")

    def __init__(self, data: Any = None) -> None:
        """Store bytes-like ``data`` untouched, ``None`` as empty, anything else as sorted JSON.

        Raises :class:`PayloadError` if ``data`` cannot be encoded as JSON.
        """
        self._pickled = False
        if isinstance(data, Payload):
            raw = data._raw
            self._pickled = data._pickled
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
        elif data is None:
            raw = b""
        else:
            try:
                text = _encode_json(data)
                raw = text.encode()  # a lone surrogate is a str but not UTF-8: UnicodeEncodeError
            except (TypeError, ValueError) as exc:
                raise PayloadError(f"cannot encode payload as JSON: {exc}; {_JSON_HINT}") from exc
            except RecursionError:
                raise PayloadError(
                    f"cannot encode payload as JSON: it refers to itself or is nested too deeply; {_JSON_HINT}"
                ) from None
        self._raw: bytes = raw
        self._data: Any = _UNDECODED

    @classmethod
    def from_bytes(cls, raw: bytes) -> Payload:
        """Wrap bytes read from the broker as they are (no copy, no encoding)."""
        payload = cls.__new__(cls)
        payload._raw = raw if isinstance(raw, bytes) else bytes(raw)
        payload._data = _UNDECODED
        payload._pickled = False
        return payload

    @classmethod
    def _pickle(cls, obj: Any) -> Payload:
        """``obj`` pickled with cloudpickle (``Task(..., codec="pickle")``); ``data`` is ``obj``."""
        import cloudpickle  # only Python-only deployments that opt in pay for the import

        try:
            raw = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # pickling user objects can fail in any way
            raise PayloadError(f"cannot pickle payload {_describe(obj)}: {exc}") from exc
        payload = cls.from_bytes(raw)
        payload._data = obj
        payload._pickled = True
        return payload

    @classmethod
    def _verified_pickle(cls, raw: bytes) -> Payload:
        """A pickle whose signature a worker checked: ``data`` unpickles it.

        Only :func:`asynq.codecs.open_payload` calls this; nothing else ever unpickles.
        """
        payload = cls.from_bytes(raw)
        payload._pickled = True
        return payload

    @property
    def raw(self) -> bytes:
        """The wire form."""
        return self._raw

    @property
    def data(self) -> Any:
        """The payload decoded as JSON (decoded once, then cached: treat it as read-only).

        An empty payload decodes to ``{}``. Raises :class:`PayloadError` if the bytes are not JSON.
        A cloudpickle payload gives the unpickled object, but only in a handler whose worker
        verified its signature (see :mod:`asynq.codecs`); anywhere else it is just bytes.
        """
        if self._data is _UNDECODED:
            if self._pickled:
                try:
                    self._data = pickle.loads(self._raw)  # noqa: S301 - signature verified first
                except Exception as exc:  # a missing module on this worker, a broken __setstate__...
                    raise PayloadError(f"cannot unpickle payload ({type(exc).__name__}: {exc})") from exc
            elif not self._raw:
                self._data = {}
            else:
                try:
                    self._data = json.loads(self._raw.decode("utf-8"), parse_constant=_reject_constant)
                except (UnicodeDecodeError, ValueError) as exc:
                    raise PayloadError(f"payload is not JSON ({exc}): {self._preview()}") from None
        return self._data

    def has(self, key: str) -> bool:
        """Whether the payload is a JSON object holding ``key``."""
        try:
            data = self.data
        except PayloadError:
            return False
        return isinstance(data, dict) and key in data

    def get_str(self, key: str) -> str:
        """``key`` as a str; numbers are formatted, booleans become ``"true"``/``"false"``."""
        return self._get(key, _STR)

    def get_int(self, key: str) -> int:
        """``key`` as an int: an int, an integral float, or a string of an integer."""
        return self._get(key, _INT)

    def get_float(self, key: str) -> float:
        """``key`` as a float: a number or a string of a number."""
        return self._get(key, _FLOAT)

    def get_bool(self, key: str) -> bool:
        """``key`` as a bool: a bool, 0 or 1, or a word Go's ``strconv.ParseBool`` accepts."""
        return self._get(key, _BOOL)

    def get_str_list(self, key: str) -> list[str]:
        """``key`` as a list of str (each element converted as by :meth:`get_str`)."""
        return self._get(key, _STR_LIST)

    def get_int_list(self, key: str) -> list[int]:
        """``key`` as a list of int (each element converted as by :meth:`get_int`)."""
        return self._get(key, _INT_LIST)

    def get_dict(self, key: str) -> dict[str, Any]:
        """``key`` as a dict, values as decoded."""
        return self._get(key, _DICT)

    def get_str_dict(self, key: str) -> dict[str, str]:
        """``key`` as a dict of str (each value converted as by :meth:`get_str`)."""
        return self._get(key, _STR_DICT)

    def get_str_list_dict(self, key: str) -> dict[str, list[str]]:
        """``key`` as a dict of lists of str."""
        return self._get(key, _STR_LIST_DICT)

    def get_int_dict(self, key: str) -> dict[str, int]:
        """``key`` as a dict of int (each value converted as by :meth:`get_int`)."""
        return self._get(key, _INT_DICT)

    def get_bool_dict(self, key: str) -> dict[str, bool]:
        """``key`` as a dict of bool (each value converted as by :meth:`get_bool`)."""
        return self._get(key, _BOOL_DICT)

    def get_time(self, key: str) -> datetime:
        """``key`` as an aware datetime: an RFC 3339 / ISO-8601 string (naive = UTC) or unix seconds."""
        return self._get(key, _TIME)

    def get_duration(self, key: str) -> timedelta:
        """``key`` as a timedelta: seconds (number or numeric string) or a Go duration like ``"1h30m"``."""
        return self._get(key, _DURATION)

    def _get(self, key: str, converter: _Converter[T]) -> T:
        """Look ``key`` up in the JSON object and convert it, or raise a PayloadError naming both."""
        data = self.data
        if not isinstance(data, dict):
            raise PayloadError(f"payload is not a JSON object but {_type_name(data)}, so it has no key {key!r}")
        if key not in data:
            raise PayloadError(f"payload has no key {key!r}")
        try:
            return converter(data[key])
        except _Mismatch as exc:
            raise PayloadError(
                f"payload key {key!r}{exc.path}: cannot convert {_describe(exc.value)} to {exc.wanted}"
            ) from None

    def _preview(self) -> str:
        """The raw bytes, truncated for display."""
        if self._pickled:
            return f"cloudpickle, {len(self._raw)} bytes"
        if len(self._raw) <= _REPR_LIMIT:
            return repr(self._raw)
        return f"{self._raw[:_REPR_LIMIT]!r}... ({len(self._raw)} bytes)"

    def __bytes__(self) -> bytes:
        return self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Payload):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"Payload({self._preview()})"

    def __reduce__(self) -> tuple[Callable[[bytes], Payload], tuple[bytes]]:
        # Pickle the bytes only: the decode cache's sentinel would not survive a round trip.
        return (Payload.from_bytes, (self._raw,))
