"""Callee numbers: the forms people type, what is callable, provinces, masking."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType
from phonenumbers.geodata import GEOCODE_DATA

from gateway.policy import (
    PROVINCES,
    canonical_province,
    mask_number,
    normalize_caller_id,
    normalize_number,
    parse_callee,
)
from gateway.policy.numbers import explain_invalid, explain_invalid_both
from gateway.policy.provinces import MAINLAND_PROVINCES


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("0086-138-1234-5678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("013812345678", "+8613812345678"),
        ("(+86) 138-1234-5678", "+8613812345678"),
        ("138.1234.5678", "+8613812345678"),
        ("  13812345678  ", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),  # full-width, as IMEs type it
        ("＋８６ １３８ １２３４ ５６７８", "+8613812345678"),
        ("010-12345678", "+861012345678"),
        ("+86 10 1234 5678", "+861012345678"),
        ("(0771) 555-1234", "+867715551234"),
        ("0755-88888888", "+8675588888888"),
        ("0311-12345678", "+8631112345678"),
    ],
)
def test_accepted_written_forms_normalise_to_e164(raw, e164):
    assert normalize_number(raw) == e164
    parsed = parse_callee(raw)
    assert parsed is not None and parsed.e164 == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "95519",  # insurer's short service code
        "10086",
        "4008001234",  # shared-cost 400
        "8008001234",  # toll-free 800
        "1380013800",  # mobile with 10 digits
        "138123456789",  # mobile with 12 digits
        "12345678",  # landline without its area code
        "021-1234567",  # Shanghai landlines have 8 digits
        "+852 9123 4567",  # Hong Kong
        "+1 202 555 0143",
        "138-1234-567a",
        "1-800-FLOWERS",
        "13812345678 ext 12",
        "13812345678#12",
        "+86 1064 1234 5678",
        "++8613812345678",
        "1" * 80,
    ],
)
def test_uncallable_numbers_are_invalid(raw):
    assert parse_callee(raw) is None
    assert normalize_number(raw) is None


@pytest.mark.parametrize(
    ("raw", "kind", "province"),
    [
        ("13812345678", "mobile", "江苏省"),
        ("010-12345678", "fixed", "北京市"),
        ("021-12345678", "fixed", "上海市"),
        ("(0771) 555-1234", "fixed", "广西壮族自治区"),
        ("0991-1234567", "fixed", "新疆维吾尔自治区"),
        ("0471-1234567", "fixed", "内蒙古自治区"),
        ("0891-6123456", "fixed", "西藏自治区"),
        ("0951-1234567", "fixed", "宁夏回族自治区"),
        ("0898-12345678", "fixed", "海南省"),
        ("17012345678", "mobile", None),  # the geocoder only knows "中国"
    ],
)
def test_callee_kind_province_and_zone(raw, kind, province):
    parsed = parse_callee(raw)
    assert parsed is not None
    assert (parsed.kind, parsed.province, parsed.tz) == (kind, province, "Asia/Shanghai")


def test_there_are_34_province_level_names_31_on_the_mainland():
    assert len(set(PROVINCES)) == 34
    assert len(MAINLAND_PROVINCES) == 31
    assert {"北京市", "江苏省", "广西壮族自治区", "新疆维吾尔自治区"} <= set(MAINLAND_PROVINCES)


def test_every_geocoder_description_of_a_cn_prefix_names_a_mainland_province():
    descriptions = {v["zh"] for k, v in GEOCODE_DATA.items() if k.startswith("86") and "zh" in v}
    assert len(descriptions) > 300
    unmatched = {d for d in descriptions if canonical_province(d) not in MAINLAND_PROVINCES}
    assert unmatched == set()


@pytest.mark.parametrize(
    ("text", "province"),
    [
        ("江苏省连云港市", "江苏省"),
        ("广西南宁市", "广西壮族自治区"),
        ("广西壮族自治区南宁市、崇左市", "广西壮族自治区"),
        ("黑龙江省哈尔滨市", "黑龙江省"),
        ("内蒙古呼和浩特市", "内蒙古自治区"),
        ("天津", "天津市"),
        ("中国", None),
        ("", None),
    ],
)
def test_place_descriptions_map_to_one_canonical_province(text, province):
    assert canonical_province(text) == province


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("4008001234", "+864008001234"),
        ("400-800-1234", "+864008001234"),
        ("+86 400 800 1234", "+864008001234"),
        ("8008001234", "+868008001234"),
        ("010-12345678", "+861012345678"),
        ("13812345678", "+8613812345678"),
        ("95519", "95519"),
        ("955-19", "95519"),
        ("9 55 19", "95519"),
    ],
)
def test_caller_ids_normalise_deterministically(raw, key):
    assert normalize_caller_id(raw) == key


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613812345678", "138****5678"),
        ("+861012345678", "010****5678"),
        ("+862112345678", "021****5678"),
        ("+867715551234", "0771****1234"),
        ("+8675588888888", "0755****8888"),
        ("+85291234567", "852****4567"),
        ("95519", "****19"),
    ],
)
def test_numbers_are_masked_for_messages_and_logs(e164, masked):
    assert mask_number(e164) == masked


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("95519", "short service code"),
        ("4008001234", "shared-cost"),
        ("8008001234", "toll-free"),
        ("+852 9123 4567", "mainland China"),
        ("1380013800", "11 digits"),
        ("12345678", "area code"),
        ("138-abc", "not written as a phone number"),
        ("13812345678 ext 12", "not written as a phone number"),
    ],
)
def test_invalid_numbers_are_explained_without_repeating_them(raw, words):
    explanation = explain_invalid(raw)
    assert words in explanation
    digits = "".join(ch for ch in raw if ch.isdigit())
    assert digits[-4:] not in explanation


@pytest.mark.parametrize(
    ("raw", "english", "chinese"),
    [
        ("12012345678", "120 is not an assigned mobile prefix", "120 不是已分配的手机号段"),
        ("+86 100 1234 5678", "100 is not an assigned mobile prefix", "100 不是已分配的手机号段"),
        ("0086 14012345678", "140 is not an assigned mobile prefix", "140 不是已分配的手机号段"),
        ("17491234567", "1749 is not an assigned mobile prefix", "1749 不是已分配的手机号段"),
        ("09612345678", "096 is not an assigned area code", "096 不是已分配的区号"),
        ("06612345678", "0661 is not an assigned area code", "0661 不是已分配的区号"),
    ],
)
def test_an_eleven_digit_number_with_an_unassigned_prefix_names_it(raw, english, chinese):
    assert explain_invalid_both(raw) == (
        f"callee is not a valid number: {english}",
        f"被叫号码无效：{chinese}",
    )


def _named_prefix(explanation: str) -> str | None:
    words = explanation.split(": ", 1)[-1].split(" ")
    return words[0] if "assigned" in explanation else None


@given(
    st.from_regex(r"1[0-9]{10}|0[2-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"[0-9]{8}", fullmatch=True),
)
def test_no_valid_number_starts_with_a_prefix_named_unassigned(digits, other):
    named = _named_prefix(explain_invalid(digits))
    assume(named is not None)
    assert named is not None and digits.startswith(named)
    assert parse_callee(named + other[: 11 - len(named)]) is None


# --- every accepted written form of a valid number gives the same E.164 -----------------

_MOBILE_PREFIXES = [
    *(f"13{d}" for d in range(10)),
    *("150 151 152 153 155 156 157 158 159 166 176 177 178".split()),
    *(f"18{d}" for d in range(10)),
    "198",
    "199",
]
_AREA_CODES = (
    "10 20 21 22 23 24 25 27 28 29 311 351 371 431 451 471 531 551 571 591 731 755 771 "
    "791 851 871 891 898 931 951 971 991"
).split()

_separators = st.sampled_from(["", " ", "-", ".", "  ", " - "])


@st.composite
def grouped(draw: st.DrawFn, digits: str) -> str:
    """The digits cut into groups joined by separators people use."""
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=4)))
    parts = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    out = parts[0]
    for part in parts[1:]:
        out += draw(_separators) + part
    return out


@st.composite
def mobile_forms(draw: st.DrawFn) -> tuple[str, str]:
    national = draw(st.sampled_from(_MOBILE_PREFIXES)) + draw(
        st.text("0123456789", min_size=8, max_size=8)
    )
    assume(normalize_number("+86" + national) is not None)
    prefix = draw(st.sampled_from(["", "+86", "0086", "86", "0", "(+86)"]))
    sep = draw(_separators) if prefix else ""
    return f"{prefix}{sep}{draw(grouped(national))}", "+86" + national


@st.composite
def landline_forms(draw: st.DrawFn) -> tuple[str, str]:
    area = draw(st.sampled_from(_AREA_CODES))
    size = 8 if len(area) == 2 else draw(st.sampled_from([7, 8]))
    subscriber = draw(st.sampled_from("2345678")) + draw(
        st.text("0123456789", min_size=size - 1, max_size=size - 1)
    )
    assume(normalize_number(f"+86{area}{subscriber}") is not None)
    written_area = draw(
        st.sampled_from([f"0{area}", f"(0{area})", f"+86 {area}", f"0086 {area}", f"+86-{area}"])
    )
    return f"{written_area}{draw(_separators)}{draw(grouped(subscriber))}", f"+86{area}{subscriber}"


@given(st.one_of(mobile_forms(), landline_forms()))
def test_every_written_form_of_a_valid_number_gives_the_same_e164(case):
    written, e164 = case
    assert normalize_number(written) == e164
    parsed = parse_callee(written)
    assert parsed is not None and parsed.e164 == e164


_digit_strings = st.one_of(
    st.text("0123456789", min_size=3, max_size=13),
    st.tuples(
        st.sampled_from(["13", "14", "15", "16", "17", "18", "19", "010", "021", "0771", "400"]),
        st.text("0123456789", min_size=6, max_size=10),
    ).map("".join),
)


@given(_digit_strings)
def test_callable_means_valid_cn_mobile_or_landline_as_phonenumbers_judges(digits):
    try:
        number = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        assert parse_callee(digits) is None
        return
    callable_kinds = {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
    expected = (
        number.country_code == 86
        and phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) in callable_kinds
    )
    assert (parse_callee(digits) is not None) is expected
