"""Unit tests for asynq.payload: encoding, decoding and the typed getters."""

from __future__ import annotations

import json
import pickle
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asynq.errors import PayloadError
from asynq.payload import Payload

UTC = timezone.utc


# --- construction and wire form ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "raw"),
    [
        (None, b""),
        (b"\x00\xffraw", b"\x00\xffraw"),
        (bytearray(b"abc"), b"abc"),
        (memoryview(b"abc"), b"abc"),
        ({"user_id": 42}, b'{"user_id":42}'),
        ({"b": 1, "a": {"d": 2, "c": 3}}, b'{"a":{"c":3,"d":2},"b":1}'),
        ([1, "two", None, True], b'[1,"two",null,true]'),
        ((1, 2), b"[1,2]"),
        ("hello", b'"hello"'),
        (7, b"7"),
        ({"name": "Zoë ✓"}, '{"name":"Zoë ✓"}'.encode()),
        ({"at": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)}, b'{"at":"2024-05-06T07:08:09+00:00"}'),
        ({"on": date(2024, 5, 6)}, b'{"on":"2024-05-06"}'),
        ({"wait": timedelta(minutes=1, milliseconds=500)}, b'{"wait":60.5}'),
    ],
    ids=repr,
)
def test_constructor_encodes(data: Any, raw: bytes) -> None:
    assert Payload(data).raw == raw


def test_bytes_pass_through_untouched() -> None:
    raw = b"\x89PNG\r\n\x1a\n"
    payload = Payload(raw)
    assert payload.raw is raw
    assert bytes(payload) == raw
    assert len(payload) == len(raw)


def test_sorted_keys_make_bytes_deterministic() -> None:
    assert Payload({"b": 1, "a": 2}).raw == Payload({"a": 2, "b": 1}).raw
    assert Payload({"b": 1, "a": 2}) == Payload({"a": 2, "b": 1})
    assert hash(Payload({"b": 1, "a": 2})) == hash(Payload({"a": 2, "b": 1}))


def test_payload_of_payload_keeps_bytes() -> None:
    original = Payload({"a": 1})
    assert Payload(original) == original


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"tags": {"a", "b"}}, "set"),
        ({"obj": object()}, "object"),
        ({"amount": Decimal("1.5")}, "decimal.Decimal"),
        ({"nan": float("nan")}, "Out of range float"),
        ({"inf": float("inf")}, "Out of range float"),
        ({(1, 2): "tuple key"}, "tuple"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unserialisable_payload_fails_at_construction(data: Any, named: str) -> None:
    with pytest.raises(PayloadError, match="cannot encode payload as JSON") as info:
        Payload(data)
    assert named in str(info.value)
    assert "pass bytes" in str(info.value)


@pytest.mark.parametrize("make", [lambda: [], lambda: {}], ids=["list", "dict"])
def test_a_payload_that_contains_itself_fails_at_construction(make: Any) -> None:
    data = make()
    if isinstance(data, list):
        data.append(data)
    else:
        data["self"] = data
    with pytest.raises(PayloadError, match="refers to itself"):
        Payload(data)


def test_payload_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        Payload({"x": {1, 2}})


@pytest.mark.parametrize("raw", [b"", b'{"a":1}', b"\xff\x00"])
def test_from_bytes_wraps_without_copy(raw: bytes) -> None:
    payload = Payload.from_bytes(raw)
    assert payload.raw is raw
    assert payload == Payload(raw)


def test_equality_is_by_bytes_only() -> None:
    assert Payload({"a": 1}) != Payload({"a": 2})
    assert Payload(b"x") != b"x"
    assert len({Payload(b"x"), Payload.from_bytes(b"x")}) == 1


def test_repr_shows_preview_and_truncates() -> None:
    assert repr(Payload({"a": 1})) == "Payload(b'{\"a\":1}')"
    long = repr(Payload("x" * 1000))
    assert long.startswith("Payload(b'\"xxx")
    assert "... (1002 bytes)" in long
    assert len(long) < 120


def test_pickle_round_trip() -> None:
    payload = Payload({"a": [1, 2]})
    assert payload.data == {"a": [1, 2]}  # fill the decode cache first
    clone = pickle.loads(pickle.dumps(payload))
    assert clone == payload
    assert clone.data == {"a": [1, 2]}


# --- decoding -------------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    data = {"user_id": 42, "tags": ["a", "b"], "nested": {"ok": True, "none": None}, "f": 1.5}
    assert Payload.from_bytes(Payload(data).raw).data == data


def test_empty_payload_is_empty_object() -> None:
    for payload in (Payload(), Payload(None), Payload(b""), Payload.from_bytes(b"")):
        assert payload.raw == b""
        assert payload.data == {}
        assert not payload.has("x")
        with pytest.raises(PayloadError, match="payload has no key 'x'"):
            payload.get_str("x")


def test_data_is_decoded_once() -> None:
    payload = Payload.from_bytes(b'{"a":[1]}')
    assert payload.data is payload.data


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{not json", b'{"a":1', b"NaN", b'{"a":Infinity}', b"\xef\xbb\xbf{}"])
def test_non_json_bytes_raise_on_decode(raw: bytes) -> None:
    payload = Payload.from_bytes(raw)
    with pytest.raises(PayloadError, match="payload is not JSON"):
        payload.data
    with pytest.raises(PayloadError, match="payload is not JSON"):
        payload.get_int("a")
    assert not payload.has("a")


@pytest.mark.parametrize("data", [[1, 2], "text", 42, 1.5, True])
def test_non_object_payload(data: Any) -> None:
    payload = Payload(data)
    assert payload.data == data
    assert not payload.has("a")
    with pytest.raises(PayloadError, match="payload is not a JSON object.*'a'"):
        payload.get_str("a")


def test_null_payload_is_not_an_object() -> None:
    payload = Payload.from_bytes(b"null")
    assert payload.data is None
    with pytest.raises(PayloadError, match="not a JSON object"):
        payload.get_dict("a")


def test_has() -> None:
    payload = Payload({"present": None, "zero": 0})
    assert payload.has("present")
    assert payload.has("zero")
    assert not payload.has("absent")


def test_get_dict_returns_a_copy() -> None:
    payload = Payload({"d": {"a": 1}})
    payload.get_dict("d")["b"] = 2
    assert payload.get_dict("d") == {"a": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values))
def test_any_json_dict_round_trips(data: dict[str, Any]) -> None:
    assert Payload.from_bytes(Payload(data).raw).data == data


@given(json_values.filter(lambda v: v is not None))  # None is the empty payload
def test_bytes_are_what_json_dumps_makes_with_the_documented_options(data: Any) -> None:
    expected = json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)
    assert Payload(data).raw == expected.encode()


@given(st.dictionaries(st.text(), json_values))
def test_same_dict_same_bytes(data: dict[str, Any]) -> None:
    reversed_order = dict(reversed(list(data.items())))
    assert Payload(data).raw == Payload(reversed_order).raw


# --- getters: successes ---------------------------------------------------------------------------

NS_CUT = timedelta(microseconds=123456)  # .123456789s truncated to microseconds

GETTER_CASES: list[tuple[str, Any, Any]] = [
    # get_str
    ("get_str", "abc", "abc"),
    ("get_str", "", ""),
    ("get_str", 42, "42"),
    ("get_str", -1.5, "-1.5"),
    ("get_str", True, "true"),
    ("get_str", False, "false"),
    # get_int
    ("get_int", 42, 42),
    ("get_int", -7, -7),
    ("get_int", 3.0, 3),
    ("get_int", "42", 42),
    ("get_int", " 42 ", 42),
    ("get_int", "-7", -7),
    ("get_int", "+5", 5),
    ("get_int", 12345678901234567890, 12345678901234567890),
    # get_float
    ("get_float", 1.5, 1.5),
    ("get_float", 2, 2.0),
    ("get_float", "1.5", 1.5),
    ("get_float", "2", 2.0),
    ("get_float", "1e3", 1000.0),
    ("get_float", " -.5 ", -0.5),
    # get_bool
    *[("get_bool", word, True) for word in ("1", "t", "T", "TRUE", "true", "True")],
    *[("get_bool", word, False) for word in ("0", "f", "F", "FALSE", "false", "False")],
    ("get_bool", True, True),
    ("get_bool", False, False),
    ("get_bool", 1, True),
    ("get_bool", 0, False),
    # lists
    ("get_str_list", ["a", 1, 2.5, True], ["a", "1", "2.5", "true"]),
    ("get_str_list", [], []),
    ("get_int_list", [1, "2", 3.0], [1, 2, 3]),
    ("get_int_list", [], []),
    # dicts
    ("get_dict", {"a": [1, None], "b": {"c": True}}, {"a": [1, None], "b": {"c": True}}),
    ("get_dict", {}, {}),
    ("get_str_dict", {"a": "x", "b": 2, "c": False}, {"a": "x", "b": "2", "c": "false"}),
    ("get_str_list_dict", {"admins": ["ann", 7], "none": []}, {"admins": ["ann", "7"], "none": []}),
    ("get_int_dict", {"a": 1, "b": "2", "c": 4.0}, {"a": 1, "b": 2, "c": 4}),
    ("get_bool_dict", {"a": True, "b": "f", "c": 1}, {"a": True, "b": False, "c": True}),
    # get_time
    ("get_time", "2024-05-06T07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("get_time", "2024-05-06t07:08:09z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("get_time", "2024-05-06T07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ("get_time", "2024-05-06 07:08", datetime(2024, 5, 6, 7, 8, tzinfo=UTC)),
    ("get_time", "2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
    ("get_time", "2024-05-06T07:08:09.5Z", datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)),
    ("get_time", "2024-05-06T07:08:09.123456789Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC) + NS_CUT),
    ("get_time", "2024-05-06T07:08:09+02:00",
     datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))),
    ("get_time", "2024-05-06T07:08:09-0530",
     datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
    ("get_time", "2024-05-06T07:08:09.25+05",
     datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=timezone(timedelta(hours=5)))),
    ("get_time", 0, datetime(1970, 1, 1, tzinfo=UTC)),
    ("get_time", 1700000000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
    # get_duration
    ("get_duration", 90, timedelta(seconds=90)),
    ("get_duration", 1.5, timedelta(seconds=1.5)),
    ("get_duration", -2, timedelta(seconds=-2)),
    ("get_duration", "90", timedelta(seconds=90)),
    ("get_duration", "0.25", timedelta(milliseconds=250)),
    ("get_duration", "0", timedelta(0)),
    ("get_duration", "1h30m", timedelta(hours=1, minutes=30)),
    ("get_duration", "1.5s", timedelta(seconds=1.5)),
    ("get_duration", "300ms", timedelta(milliseconds=300)),
    ("get_duration", "2h45m30.5s", timedelta(hours=2, minutes=45, seconds=30.5)),
    ("get_duration", "-1m", timedelta(minutes=-1)),
    ("get_duration", "+1m", timedelta(minutes=1)),
    ("get_duration", "1us", timedelta(microseconds=1)),
    ("get_duration", "1µs", timedelta(microseconds=1)),
    ("get_duration", "1μs", timedelta(microseconds=1)),
    ("get_duration", "10ns", timedelta(0)),
    ("get_duration", "1500ns", timedelta(microseconds=1)),
    ("get_duration", "-1500ns", timedelta(microseconds=-1)),
    ("get_duration", "1.0000009s", timedelta(seconds=1)),
    ("get_duration", ".5h", timedelta(minutes=30)),
    ("get_duration", "1h1h", timedelta(hours=2)),
]


@pytest.mark.parametrize(("getter", "value", "expected"), GETTER_CASES, ids=repr)
def test_getter_converts(getter: str, value: Any, expected: Any) -> None:
    payload = Payload.from_bytes(Payload({"k": value}).raw)
    result = getattr(payload, getter)("k")
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "value",
    ["2024-05-06T07:08:09Z", "2024-05-06T07:08:09", "2024-05-06T07:08:09+02:00", 1700000000, "2024-05-06"],
)
def test_get_time_is_always_aware(value: Any) -> None:
    assert Payload({"k": value}).get_time("k").tzinfo is not None


def test_datetime_and_timedelta_round_trip_through_getters() -> None:
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=-3)))
    wait = timedelta(hours=1, microseconds=250)
    payload = Payload({"at": moment, "naive": moment.replace(tzinfo=None), "on": date(2024, 5, 6), "wait": wait})
    assert payload.get_time("at") == moment
    assert payload.get_time("naive") == moment.replace(tzinfo=UTC)
    assert payload.get_time("on") == datetime(2024, 5, 6, tzinfo=UTC)
    assert payload.get_duration("wait") == wait


# --- getters: failures ----------------------------------------------------------------------------

ALL_GETTERS = [
    "get_str", "get_int", "get_float", "get_bool", "get_str_list", "get_int_list", "get_dict",
    "get_str_dict", "get_str_list_dict", "get_int_dict", "get_bool_dict", "get_time", "get_duration",
]


@pytest.mark.parametrize("getter", ALL_GETTERS)
def test_missing_key_names_the_key(getter: str) -> None:
    with pytest.raises(PayloadError, match=r"^payload has no key 'user_id'$"):
        getattr(Payload({"other": 1}), getter)("user_id")


@pytest.mark.parametrize("getter", ALL_GETTERS)
def test_non_object_payload_fails_for_every_getter(getter: str) -> None:
    with pytest.raises(PayloadError, match=r"not a JSON object but list, so it has no key 'user_id'"):
        getattr(Payload([1]), getter)("user_id")


FAILURE_CASES: list[tuple[str, Any, str]] = [
    # (getter, value, expected message after "payload key 'k'")
    ("get_str", None, ": cannot convert None to str"),
    ("get_str", [1], ": cannot convert list [1] to str"),
    ("get_str", {"a": 1}, ": cannot convert dict {'a': 1} to str"),
    ("get_int", "abc", ": cannot convert str 'abc' to int"),
    ("get_int", "4.0", ": cannot convert str '4.0' to int"),
    ("get_int", "1_000", ": cannot convert str '1_000' to int"),
    ("get_int", "0x1F", ": cannot convert str '0x1F' to int"),
    ("get_int", "", ": cannot convert str '' to int"),
    ("get_int", 3.7, ": cannot convert float 3.7 to int"),
    ("get_int", True, ": cannot convert bool True to int"),
    ("get_int", None, ": cannot convert None to int"),
    ("get_int", [1], ": cannot convert list [1] to int"),
    ("get_float", "abc", ": cannot convert str 'abc' to float"),
    ("get_float", "nan", ": cannot convert str 'nan' to float"),
    ("get_float", "inf", ": cannot convert str 'inf' to float"),
    ("get_float", "1e999", ": cannot convert str '1e999' to float"),
    ("get_float", 10**400, ": cannot convert int 1"),
    ("get_float", False, ": cannot convert bool False to float"),
    ("get_float", None, ": cannot convert None to float"),
    ("get_bool", "yes", ": cannot convert str 'yes' to bool"),
    ("get_bool", "tRuE", ": cannot convert str 'tRuE' to bool"),
    ("get_bool", 2, ": cannot convert int 2 to bool"),
    ("get_bool", 1.0, ": cannot convert float 1.0 to bool"),
    ("get_bool", None, ": cannot convert None to bool"),
    ("get_str_list", "a,b", ": cannot convert str 'a,b' to list[str]"),
    ("get_str_list", {"a": "b"}, ": cannot convert dict {'a': 'b'} to list[str]"),
    ("get_str_list", ["a", None], "[1]: cannot convert None to str"),
    ("get_int_list", [1, 2, "x"], "[2]: cannot convert str 'x' to int"),
    ("get_int_list", 5, ": cannot convert int 5 to list[int]"),
    ("get_dict", [1], ": cannot convert list [1] to dict"),
    ("get_dict", "x", ": cannot convert str 'x' to dict"),
    ("get_str_dict", {"a": [1]}, "['a']: cannot convert list [1] to str"),
    ("get_str_dict", ["a"], ": cannot convert list ['a'] to dict[str, str]"),
    ("get_str_list_dict", {"g": "ann"}, "['g']: cannot convert str 'ann' to list[str]"),
    ("get_str_list_dict", {"g": ["ann", {}]}, "['g'][1]: cannot convert dict {} to str"),
    ("get_str_list_dict", [], ": cannot convert list [] to dict[str, list[str]]"),
    ("get_int_dict", {"a": 1, "b": "two"}, "['b']: cannot convert str 'two' to int"),
    ("get_int_dict", 1, ": cannot convert int 1 to dict[str, int]"),
    ("get_bool_dict", {"a": "maybe"}, "['a']: cannot convert str 'maybe' to bool"),
    ("get_bool_dict", "true", ": cannot convert str 'true' to dict[str, bool]"),
    ("get_time", "yesterday", ": cannot convert str 'yesterday' to datetime"),
    ("get_time", "2024-13-01T00:00:00Z", ": cannot convert str '2024-13-01T00:00:00Z' to datetime"),
    ("get_time", "2024-02-30", ": cannot convert str '2024-02-30' to datetime"),
    ("get_time", "2024-05-06T25:00:00Z", ": cannot convert str '2024-05-06T25:00:00Z' to datetime"),
    ("get_time", "2024-05-06T07:08:09+24:00", ": cannot convert str '2024-05-06T07:08:09+24:00' to datetime"),
    ("get_time", "2024-05-06T07", ": cannot convert str '2024-05-06T07' to datetime"),
    ("get_time", "2024-05-06Z", ": cannot convert str '2024-05-06Z' to datetime"),
    ("get_time", "1700000000", ": cannot convert str '1700000000' to datetime"),
    ("get_time", 1e20, ": cannot convert float 1e+20 to datetime"),
    ("get_time", True, ": cannot convert bool True to datetime"),
    ("get_time", None, ": cannot convert None to datetime"),
    ("get_duration", "1d", ": cannot convert str '1d' to timedelta"),
    ("get_duration", "1h 30m", ": cannot convert str '1h 30m' to timedelta"),
    ("get_duration", "h", ": cannot convert str 'h' to timedelta"),
    ("get_duration", "--1s", ": cannot convert str '--1s' to timedelta"),
    ("get_duration", "1e3s", ": cannot convert str '1e3s' to timedelta"),
    ("get_duration", "", ": cannot convert str '' to timedelta"),
    ("get_duration", "100000000000h", ": cannot convert str '100000000000h' to timedelta"),
    ("get_duration", 1e20, ": cannot convert float 1e+20 to timedelta"),
    ("get_duration", False, ": cannot convert bool False to timedelta"),
    ("get_duration", [1], ": cannot convert list [1] to timedelta"),
]


@pytest.mark.parametrize(("getter", "value", "message"), FAILURE_CASES, ids=repr)
def test_getter_failure_names_key_value_and_wanted_type(getter: str, value: Any, message: str) -> None:
    payload = Payload.from_bytes(Payload({"k": value}).raw)
    with pytest.raises(PayloadError) as info:
        getattr(payload, getter)("k")
    assert str(info.value).startswith(f"payload key 'k'{message}")


def test_failure_preview_is_truncated() -> None:
    with pytest.raises(PayloadError) as info:
        Payload({"k": "x" * 10_000}).get_int("k")
    assert "to int" in str(info.value)
    assert len(str(info.value)) < 120
