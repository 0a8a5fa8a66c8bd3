"""Hypothesis strategies: callable mainland numbers, and the many ways people write one
that the gateway accepts (prefixes, separators, parentheses, full-width digits)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from hypothesis import assume
from hypothesis import strategies as st

from gateway.policy import normalize_number

AREA_CODES = ("10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "571", "755", "591")
_FULL_WIDTH = str.maketrans("0123456789+() -", "０１２３４５６７８９＋（）\u3000－")


@dataclass(frozen=True)
class Written:
    e164: str
    national: str  # the digits after +86, as the masked answers must never show them
    form: str  # as a person typed it


@st.composite
def callable_numbers(draw: st.DrawFn) -> tuple[str, str, int]:
    """(national digits, e164, length of the area code or mobile prefix)."""
    if draw(st.booleans()):
        national = f"1{draw(st.sampled_from('3456789'))}{draw(st.integers(0, 10**9 - 1)):09d}"
        head = 3
    else:
        area = draw(st.sampled_from(AREA_CODES))
        local = f"{draw(st.integers(2, 8))}{draw(st.integers(0, 10**7 - 1)):07d}"
        national = area + local
        head = len(area)
    e164 = normalize_number(national if national.startswith("1") else "0" + national)
    assume(e164 == "+86" + national)
    return national, "+86" + national, head


@st.composite
def written_numbers(draw: st.DrawFn) -> Written:
    national, e164, head = draw(callable_numbers())
    mobile = national.startswith("1") and len(national) == 11
    sep = draw(st.sampled_from(["", " ", "-", ".", "  ", " - "]))
    groups = [national[:head], national[head : head + 4], national[head + 4 :]]
    if mobile and draw(st.booleans()):
        groups = [national[:3], national[3:7], national[7:]]
    if draw(st.booleans()):
        groups[0] = f"({groups[0]})"
    body = sep.join(g for g in groups if g)
    if mobile:
        prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "86 ", "0"]))
    else:
        prefix = draw(st.sampled_from(["0", "+86 ", "+86", "0086 ", "+86 (0)", "0086-"]))
    form = prefix + body
    if draw(st.booleans()):
        form = form.translate(_FULL_WIDTH)
    if draw(st.booleans()):
        form = f" {form} "
    assume(normalize_number(form) == e164)
    return Written(e164=e164, national=national, form=form)


def digits_shown(text: str) -> str:
    """The text as one string of digits and other characters, with the separators a number
    may be written with taken out: a number shown in full, in any form, is a substring."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if ch not in " ().-+\t\n\r\"'")


def shows(text: str, number: Written) -> bool:
    return number.national in digits_shown(text)
