"""Callee and caller numbers: parsing the forms people type, normalising, masking.

Only mainland China (+86) mobiles and landlines are callable. phonenumbers decides
validity and type; this module decides which written forms are acceptable at all
(digits, one leading `+`, spaces, dashes, dots and parentheses; no letters, no
extensions) and what the policy needs from the number: E.164, kind, province, zone.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final, Literal

import msgspec
import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    geocoder,
    timezone,
)
from phonenumbers.geodata import GEOCODE_LONGEST_PREFIX
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

from gateway.policy.provinces import canonical_province

CHINA_TZ: Final = "Asia/Shanghai"
_CHINA_CODE: Final = 86
_MAX_TEXT: Final = 40
_TEXT: Final = re.compile(r"[\s().\-]*\+?[0-9\s().\-]+")

_NOT_CALLABLE_KINDS: Final[dict[int, tuple[str, str]]] = {
    PhoneNumberType.TOLL_FREE: ("a toll-free", "免费电话"),
    PhoneNumberType.PREMIUM_RATE: ("a premium-rate", "付费增值"),
    PhoneNumberType.SHARED_COST: ("a shared-cost (400)", "400"),
    PhoneNumberType.VOIP: ("a VoIP", "网络电话"),
    PhoneNumberType.PERSONAL_NUMBER: ("a personal", "个人通信"),
    PhoneNumberType.PAGER: ("a pager", "寻呼"),
    PhoneNumberType.UAN: ("a universal access", "统一接入"),
    PhoneNumberType.VOICEMAIL: ("a voicemail", "语音信箱"),
}


class ParsedNumber(msgspec.Struct, frozen=True):
    e164: str
    kind: Literal["mobile", "fixed"]
    province: str | None
    tz: str


def _clean(raw: str) -> str | None:
    text = raw.strip()
    if not text.isascii():
        # Full-width digits, plus signs and spaces, as Chinese input methods type them.
        text = unicodedata.normalize("NFKC", text)
    if len(text) > _MAX_TEXT or _TEXT.fullmatch(text) is None:
        return None
    return text


def _parse(raw: str) -> PhoneNumber | None:
    text = _clean(raw)
    if text is None:
        return None
    try:
        return phonenumbers.parse(text, "CN")
    except NumberParseException:
        return None


def _kind(number: PhoneNumber) -> Literal["mobile", "fixed"] | None:
    # +86 belongs to one region only, so number_type() is UNKNOWN exactly when
    # is_valid_number() is false: one lookup answers both questions.
    code = phonenumbers.number_type(number)
    if code == PhoneNumberType.MOBILE:
        return "mobile"
    if code == PhoneNumberType.FIXED_LINE:
        return "fixed"
    if code == PhoneNumberType.FIXED_LINE_OR_MOBILE:
        national = str(number.national_number)
        return "mobile" if len(national) == 11 and national.startswith("1") else "fixed"
    return None


def _cn_pattern(kind: Literal["mobile", "fixed_line"]) -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    desc = None if metadata is None else getattr(metadata, kind)
    pattern = None if desc is None else desc.national_number_pattern
    if not isinstance(pattern, str):
        raise RuntimeError(f"phonenumbers carries no {kind} pattern for CN")
    return re.compile(pattern)


CN_MOBILE: Final = _cn_pattern("mobile")
CN_FIXED: Final = _cn_pattern("fixed_line")


def _plain_mobile(raw: str) -> int | None:
    """The national number of a callee written `13812345678` or `+8613812345678` that
    phonenumbers' CN mobile pattern matches, else None.

    Those are the forms dialers send, and for them the full parse is known in advance:
    nothing to clean or strip, national number = the 11 digits, and number_type() is
    MOBILE or FIXED_LINE_OR_MOBILE (no other CN number type has 11 digits starting with
    1), so the kind is "mobile". Skipping it saves most of the cost of a check's parse.
    """
    if len(raw) == 11:
        national = raw
    elif len(raw) == 14 and raw.startswith("+86"):
        national = raw[3:]
    else:
        return None
    if national.isascii() and national.isdigit() and CN_MOBILE.fullmatch(national):
        return int(national)
    return None


def parse_callee(raw: str) -> ParsedNumber | None:
    """The callee as the policy sees it, or None when it is not a dialable CN number."""
    national = _plain_mobile(raw)
    if national is not None:
        return _geography(f"+86{national}", "mobile")
    number = _parse(raw)
    if number is None or number.country_code != _CHINA_CODE or number.extension:
        return None
    kind = _kind(number)
    if kind is None:
        return None
    return _geography(phonenumbers.format_number(number, PhoneNumberFormat.E164), kind)


# phonenumbers finds a number's place and time zone by the longest prefix of its E.164
# digits in its tables, whose keys are at most this many digits long: numbers sharing
# that prefix share both answers (for +86, the first seven national digits, a 号段).
PLACE_DIGITS: Final = max(GEOCODE_LONGEST_PREFIX, TIMEZONE_LONGEST_PREFIX)
# About 100 bytes a prefix (the places themselves are shared): a few MB at most. A scrub
# of numbers from all over the country may empty it now and then; that costs lookups only.
_PLACES_MAX: Final = 50_000
_places: dict[str, tuple[str | None, str]] = {}
_distinct: dict[tuple[str | None, str], tuple[str | None, str]] = {}


def _place(e164: str) -> tuple[str | None, str]:
    """(province, time zone) of a +86 number as phonenumbers gives them."""
    number = PhoneNumber(country_code=_CHINA_CODE, national_number=int(e164[3:]))
    # Mobile and fixed numbers are geographic; the validity check is not repeated.
    description = geocoder.description_for_valid_number(number, "zh")
    zones = timezone.time_zones_for_geographical_number(number)
    tz = zones[0] if zones and zones[0] != "Etc/Unknown" else CHINA_TZ
    return (canonical_province(description) if description else None), tz


def _geography(e164: str, kind: Literal["mobile", "fixed"]) -> ParsedNumber:
    # Looking a place up costs more than the rest of a check's parse: remember it by the
    # prefix that decides it, and build phonenumbers' object only to look it up.
    key = e164[: PLACE_DIGITS + 1]
    place = _places.get(key)
    if place is None:
        found = _place(e164)
        place = _distinct.setdefault(found, found)  # a few dozen different places in all
        if len(_places) >= _PLACES_MAX:
            _places.clear()
        _places[key] = place
    return ParsedNumber(e164=e164, kind=kind, province=place[0], tz=place[1])


def explain_invalid(raw: str) -> str:
    """Why `parse_callee(raw)` is None, in words that do not repeat the number."""
    return explain_invalid_both(raw)[0]


def explain_invalid_both(raw: str) -> tuple[str, str]:
    """`explain_invalid` in English and in Chinese."""
    if _clean(raw) is None:
        return "callee is not written as a phone number", "被叫号码的写法不是电话号码"
    number = _parse(raw)
    if number is None:
        return "callee is not a phone number", "被叫号码不是电话号码"
    if number.country_code != _CHINA_CODE:
        return "callee is not a mainland China (+86) number", "被叫号码不是中国大陆（+86）号码"
    if number.extension:
        return "callee carries an extension", "被叫号码带有分机号"
    kind = _NOT_CALLABLE_KINDS.get(phonenumbers.number_type(number))
    if kind is not None:
        return (
            f"callee is {kind[0]} number, not a customer's mobile or landline",
            f"被叫号码是{kind[1]}号码，不是客户的手机或固定电话",
        )
    if len(str(number.national_number)) <= 6:
        return "callee is a short service code", "被叫号码是短号码（服务号码）"
    if _kind(number) is not None:
        return "callee is a valid number", "被叫号码有效"
    unassigned = _unassigned_prefix(str(number.national_number))
    if unassigned is not None:
        return unassigned
    return (
        "callee is not a valid number: a mobile needs 11 digits after +86, 0086 or 0 "
        "and a landline its area code",
        "被叫号码无效：手机号码在 +86、0086 或 0 之后应为 11 位，固定电话须带区号",
    )


def _unassigned_prefix(national: str) -> tuple[str, str] | None:
    """For a national number of a mobile's length (11 digits from 1) or a landline's
    written with its 0 in 11 digits, the prefix no number of that kind begins with:
    a mobile prefix (号段) of 3 or 4 digits, an area code of 2 or 3 after the 0. None
    when the prefix is assigned (the number is wrong further on)."""
    if len(national) == 11 and national.startswith("1"):
        prefix = _first_unassigned(national, CN_MOBILE, range(3, 5))
        if prefix is not None:
            return (
                f"callee is not a valid number: {prefix} is not an assigned mobile prefix",
                f"被叫号码无效：{prefix} 不是已分配的手机号段",
            )
    elif len(national) == 10 and not national.startswith("1"):
        prefix = _first_unassigned(national, CN_FIXED, range(2, 4))
        if prefix is not None:
            return (
                f"callee is not a valid number: 0{prefix} is not an assigned area code",
                f"被叫号码无效：0{prefix} 不是已分配的区号",
            )
    return None


def _first_unassigned(national: str, pattern: re.Pattern[str], lengths: range) -> str | None:
    """The shortest prefix of `national`, of a length in `lengths`, that no number of its
    length matching `pattern` starts with (tried with each digit repeated to the end: the
    patterns constrain the digits after a prefix by ranges, not by their mix)."""
    for length in lengths:
        prefix, rest = national[:length], len(national) - length
        if not any(pattern.fullmatch(prefix + digit * rest) for digit in "0123456789"):
            return prefix
    return None


def normalize_number(raw: str) -> str | None:
    """E.164 of a callable CN number, or None. Registries store numbers in this form."""
    parsed = parse_callee(raw)
    return None if parsed is None else parsed.e164


@lru_cache(maxsize=4096)
def normalize_caller_id(raw: str) -> str:
    """The registry key of a caller id.

    E.164 when phonenumbers takes it for a valid number of any type (400, 800, landline,
    mobile), else its bare digits (`95519`). Cached: dialers present few caller ids.
    """
    number = _parse(raw)
    if number is not None and not number.extension and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if "0" <= ch <= "9")


def _caller_id_problem(raw: str, key: str) -> str | None:
    number = _parse(raw)
    if number is None:
        return "is not a telephone number"
    if number.extension:
        return "carries an extension"
    if phonenumbers.is_valid_number(number):
        if number.country_code != _CHINA_CODE:
            return "is not a mainland China (+86) number"
        national = str(number.national_number)
        if _kind(number) == "mobile" or (len(national) == 11 and national.startswith("1")):
            return "is a mobile number, never a dedicated telemarketing number"
        return None
    # A service number (95519) is no number of any type to phonenumbers but a valid short
    # number; kept, as it always was, as its bare digits.
    if (
        number.country_code == _CHINA_CODE
        and key == str(number.national_number)
        and phonenumbers.is_valid_short_number(number)
    ):
        return None
    return "is not a valid number"


@lru_cache(maxsize=4096)
def dedicated_caller_id(raw: str) -> tuple[str, str | None]:
    """The registry key of a caller id (`normalize_caller_id`), and why it cannot be a
    dedicated telemarketing number (None when it can).

    It can when it is a valid mainland China number that is not a mobile (a landline, 400,
    800), or a valid service number (95519). Registration refuses the others, and a check
    presenting one is denied whatever the registry holds. Cached: dialers present few
    caller ids.
    """
    key = normalize_caller_id(raw)
    return key, _caller_id_problem(raw, key)


def mask_number(e164: str) -> str:
    """`+8613812345678` -> `138****5678`; `+861012345678` -> `010****5678`."""
    if e164.startswith("+86"):
        national = e164[3:]
        if len(national) == 11 and national.startswith("1"):
            return f"{national[:3]}****{national[-4:]}"
        if len(national) >= 9 and national.isdigit():
            area = national[:2] if national[0] in "12" else national[:3]
            return f"0{area}****{national[-4:]}"
    digits = "".join(ch for ch in e164 if "0" <= ch <= "9")
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****" + digits[-2:] if len(digits) > 2 else "****"
