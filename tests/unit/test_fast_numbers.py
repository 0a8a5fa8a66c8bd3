"""The bulk fast path never disagrees with the full parser."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import normalize_number
from gateway.policy.fast_numbers import normalize_fast, quick_mobile

digits = st.text(alphabet="0123456789", min_size=1, max_size=16)
prefixes = st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "0", "+", "+1", "+860"])
separators = st.sampled_from(["", " ", "-", ".", "(", ")"])


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    body = draw(
        st.one_of(
            digits,
            st.builds(
                lambda a, b: f"1{a}{b:08d}", st.sampled_from("3456789"), st.integers(0, 99_999_999)
            ),
        )
    )
    sep = draw(separators)
    if sep and len(body) > 7:
        cut = draw(st.integers(1, len(body) - 1))
        body = body[:cut] + sep + body[cut:]
    return draw(prefixes) + body + draw(st.sampled_from(["", " "]))


@settings(max_examples=1500)
@given(written_numbers())
def test_fast_path_agrees_with_the_parser_whenever_it_answers(raw: str) -> None:
    quick = quick_mobile(raw)
    if quick is not None:
        assert quick == normalize_number(raw)
    assert normalize_fast(raw) == normalize_number(raw)


def test_plain_mobiles_take_the_fast_path() -> None:
    for raw in ("13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "8613812345678"):
        assert quick_mobile(raw) == "+8613812345678"


def test_everything_else_falls_through() -> None:
    for raw in ("010-12345678", "95519", "+1 202 555 0123", "１３８１２３４５６７８"):
        assert quick_mobile(raw) is None
    assert normalize_fast("010-12345678") == "+861012345678"
