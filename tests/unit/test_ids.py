"""Call ids: UUID version 7, time-ordered, the same layout as text or as a UUID."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from gateway.core.ids import uuid7, uuid7_text

MS = st.integers(min_value=0, max_value=2**48 - 1)


@given(MS)
def test_the_text_form_is_a_canonical_version_7_uuid_of_that_millisecond(ms: int) -> None:
    text = uuid7_text(ms)
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == ms


@given(MS)
def test_both_forms_share_the_layout(ms: int) -> None:
    made = uuid7(ms)
    assert made.version == 7 and made.variant == uuid.RFC_4122 and made.int >> 80 == ms


@given(st.lists(MS, min_size=2, max_size=20, unique=True))
def test_ids_sort_by_their_millisecond(moments: list[int]) -> None:
    ids = {uuid7_text(ms): ms for ms in moments}
    assert [ids[t] for t in sorted(ids)] == sorted(moments)
