"""What an auditor reads: every customer's number masked wherever it sits in an answer,
in whatever form it was written; the company's caller ids, digests and ids left alone."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import mask_number
from gateway.policy.masking import DIGEST_KEYS, NUMBER_KEYS, NumberMask
from tests.support.written_numbers import Written, shows, written_numbers

COMPANY = "+862162345678"  # a registered caller id (a Shanghai landline)
MASK = NumberMask(frozenset({COMPANY, "4008001234"}))

# Free text around a number: no digits, no ASCII hex letters (a UUID is left as it is).
_FILLER = st.text(alphabet="客户拒绝来电号码：，。 ;:/!?xyzXYZ_@#", max_size=12)
_KEYS = st.sampled_from(
    [*sorted(NUMBER_KEYS), "entity_id", "reason", "note", "message", "request_id", "x"]
)


@st.composite
def answers(draw: st.DrawFn, number: Written) -> Any:
    """A JSON answer holding the number somewhere, alone or inside free text."""
    text = draw(_FILLER) + number.form + draw(_FILLER) if draw(st.booleans()) else number.form
    key = draw(_KEYS)
    value: Any = text if key not in NUMBER_KEYS else number.form
    for _ in range(draw(st.integers(0, 3))):
        wrap = draw(st.sampled_from(["list", "dict"]))
        value = [value, "other"] if wrap == "list" else {key: value, "seq": 4}
        key = draw(_KEYS)
    return {"items": [{key: value, "at": "2026-11-23T10:00:00+08:00"}], "next_cursor": None}


@settings(max_examples=600)
@given(st.data())
def test_no_number_in_any_accepted_form_survives_the_mask(data: st.DataObject) -> None:
    number = data.draw(written_numbers())
    answer = data.draw(answers(number))
    assert shows(json.dumps(answer, ensure_ascii=False), number)  # the check can fail
    masked = json.dumps(MASK.value(answer), ensure_ascii=False)
    assert not shows(masked, number), masked
    assert mask_number(number.e164) in masked


@settings(max_examples=300)
@given(written_numbers(), _FILLER, _FILLER)
def test_several_numbers_in_one_text_are_each_masked(
    number: Written, before: str, between: str
) -> None:
    other = "13800138000"
    masked = MASK.text(f"{before}{number.form} {between}{other}、{number.form}")
    assert not shows(masked, number)
    assert other not in masked


@settings(max_examples=300)
@given(st.data())
def test_masking_twice_changes_nothing_more(data: st.DataObject) -> None:
    number = data.draw(written_numbers())
    once = MASK.value(data.draw(answers(number)))
    assert MASK.value(once) == once


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        # Under a key that holds numbers, any value is masked, valid or not.
        ("callee", "+8613912345678", "139****5678"),
        ("callee", "13912345678", "139****5678"),
        ("number", "+86 10 6234 5678", "010****5678"),
        ("numbers", ["0086 139 1234 5678", "+1 415 555 0100"], ["139****5678", "+1 0415****0100"]),
        ("callee", "+1 415 555 01", "141****5501"),  # no valid number: masked whole
        ("customers", ["１３９１２３４５６７８"], ["139****5678"]),
        ("callee", "139****5678", "139****5678"),  # masked already
        ("callee", "", ""),
        # Anywhere else, what reads as a number is masked, also inside text.
        ("reason", "客户13912345678拒绝来电", "客户139****5678拒绝来电"),
        ("reason", "call 0086-139-1234-5678 or 010 6234 5678", "call 139****5678 or 010****5678"),
        ("entity_id", "+8613912345678", "139****5678"),
        ("message", "13912345678 13812345678", "139****5678 138****5678"),
        # The company's registered caller ids are its own numbers, shown in full.
        ("caller_id", "021 6234 5678", "021 6234 5678"),
        ("number", "+862162345678", "+862162345678"),
        ("caller_id", "4008001234", "4008001234"),
        # An unregistered landline or mobile shown as caller id is someone's number.
        ("caller_id", "+8613912345678", "139****5678"),
        # Digests, UUIDs, times, dates and counts stay as they are.
        ("hash", "13912345678" + "0" * 53, "13912345678" + "0" * 53),
        ("prev_hash", "0" * 64, "0" * 64),
        ("call_id", "01a20621-0571-4123-9123-0123456789ab", "01a20621-0571-4123-9123-0123456789ab"),
        ("at", "2026-11-23T10:00:00+08:00", "2026-11-23T10:00:00+08:00"),
        ("entity_id", "2026-10-01", "2026-10-01"),
        ("created_at", "2026-11-23 10:00:00+08", "2026-11-23 10:00:00+08"),
        ("valid_until", "2026-11-23 10:00:00+08", "2026-11-23 10:00:00+08"),
        ("day", "2026-11-23 10", "2026-11-23 10"),
        ("reason", "2026-11-23 10:00", "020****2310:00"),  # reads as a landline
        ("numbers", 12, 12),
        ("size", 13912345678, 13912345678),
        ("licence_no", "L1", "L1"),
        ("policy_no", "P2026000123", "P2026000123"),
        ("note", "P2026000123", "P020****0123"),  # reads as a Guangzhou landline
    ],
)
def test_what_the_mask_shows(key: str, value: Any, shown: Any) -> None:
    assert MASK.value({key: value}) == {key: shown}


def test_digest_keys_are_the_audit_chain_and_recordings() -> None:
    assert {"hash", "prev_hash", "sha256"} == DIGEST_KEYS


def test_a_csv_record_is_read_by_its_columns() -> None:
    header = ["number", "scope", "reason", "created_at"]
    row = ["+8613912345678", "all", "客户 139 1234 5678 refused", "2026-11-23 10:00:00+08"]
    assert MASK.record(header, row) == [
        "139****5678",
        "all",
        "客户 139****5678 refused",
        "2026-11-23 10:00:00+08",
    ]
