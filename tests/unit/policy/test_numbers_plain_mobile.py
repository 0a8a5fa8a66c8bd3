"""The short cuts of a check's parse give what the full parse gives: the one for plainly
written mobiles, and places remembered by the prefix that decides them."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, geocoder, timezone

from gateway.policy import numbers
from gateway.policy.numbers import (
    PLACE_DIGITS,
    ParsedNumber,
    _kind,
    _parse,
    _plain_mobile,
    parse_callee,
)
from gateway.policy.provinces import canonical_province


def full_parse(raw: str) -> ParsedNumber | None:
    """parse_callee without either short cut: phonenumbers all the way."""
    number = _parse(raw)
    if number is None or number.country_code != 86 or number.extension:
        return None
    kind = _kind(number)
    if kind is None:
        return None
    # phonenumbers' own lookups on the parsed number, without the memo.
    description = geocoder.description_for_valid_number(number, "zh")
    zones = timezone.time_zones_for_geographical_number(number)
    return ParsedNumber(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        kind=kind,
        province=canonical_province(description) if description else None,
        tz=zones[0] if zones and zones[0] != "Etc/Unknown" else "Asia/Shanghai",
    )


eleven_digits = st.builds(
    lambda second, rest: f"1{second}{rest:09d}",
    st.sampled_from("0123456789"),
    st.integers(0, 999_999_999),
)
written = st.one_of(
    eleven_digits,
    eleven_digits.map(lambda n: "+86" + n),
    st.text(alphabet="0123456789+", min_size=10, max_size=15),
)


@settings(max_examples=3000)
@given(written)
def test_the_short_cut_agrees_with_the_full_parse(raw: str) -> None:
    assert parse_callee(raw) == full_parse(raw)


def test_the_short_cut_takes_only_the_plain_forms() -> None:
    assert _plain_mobile("13812345678") == 13812345678
    assert _plain_mobile("+8613812345678") == 13812345678
    for raw in (
        "138 1234 5678",
        "8613812345678",
        "008613812345678",
        "+86 13812345678",
        "12812345678",  # not a mobile range
        "01012345678",  # a Beijing landline
        "１３８１２３４５６７８",  # full-width digits go the long way
    ):
        assert _plain_mobile(raw) is None
        assert parse_callee(raw) == full_parse(raw)


def test_no_key_of_the_place_tables_is_longer_than_the_memo_key() -> None:
    # The memo is right only while every key of phonenumbers' tables fits in it.
    from phonenumbers.geodata import GEOCODE_DATA
    from phonenumbers.tzdata import TIMEZONE_DATA

    assert max(len(k) for k in GEOCODE_DATA if k.startswith("86")) <= PLACE_DIGITS
    assert max(len(k) for k in TIMEZONE_DATA if k.startswith("86")) <= PLACE_DIGITS


# Two- and three-digit area codes, and two that are none (the parse says no to both).
AREA_CODES = (
    "10 20 21 22 23 24 25 27 28 29 311 335 351 371 431 451 471 531 551 571 591 599 731 "
    "771 791 851 871 891 898 931 943 951 971 991 1388 9000"
).split()


def landline(area: str, digits: int, rest: int, plus: bool) -> str:
    """A local number of `digits` digits, written with the trunk 0 or with +86."""
    return f"{'+86' if plus else '0'}{area}{rest % 10**digits:0{digits}d}"


landlines = st.builds(
    landline,
    st.sampled_from(AREA_CODES),
    st.sampled_from([7, 8]),
    st.integers(10_000_000, 99_999_999),
    st.booleans(),
)


@settings(max_examples=500)
@given(st.lists(st.one_of(eleven_digits, landlines), min_size=1, max_size=10))
def test_a_remembered_place_is_the_place_looked_up(raws: list[str]) -> None:
    # Numbers sharing a prefix in one run: the second and later ones take the memo.
    for raw in raws + [raw[:-1] + str((int(raw[-1]) + 1) % 10) for raw in raws]:
        assert parse_callee(raw) == full_parse(raw)


def test_the_memo_of_places_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numbers, "_PLACES_MAX", 3)
    monkeypatch.setattr(numbers, "_places", {})
    for prefix in ("1381234", "1391234", "1501234", "1861234", "1871234"):
        raw = prefix + "5678"
        assert parse_callee(raw) == full_parse(raw)
        assert len(numbers._places) <= 3
