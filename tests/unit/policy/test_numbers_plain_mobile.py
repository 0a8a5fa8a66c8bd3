"""The short cut for plainly written mobiles gives what the full parse gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.numbers import (
    ParsedNumber,
    _geography,
    _kind,
    _parse,
    _plain_mobile,
    parse_callee,
)


def full_parse(raw: str) -> ParsedNumber | None:
    number = _parse(raw)
    if number is None or number.country_code != 86 or number.extension:
        return None
    kind = _kind(number)
    return None if kind is None else _geography(number, kind)


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
