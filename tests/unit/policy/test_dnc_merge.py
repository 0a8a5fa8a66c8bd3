"""Do-not-call entries merge and never weaken by accident (gateway.policy.dnc_merge)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.dnc_merge import (
    Protection,
    Refused,
    blocks,
    end,
    is_protected,
    merge,
    protected_until,
    replace,
    weakens,
)
from gateway.policy.retention import earliest_refusal_expiry
from gateway.policy.types import PURPOSES

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
TOMORROW = NOW + timedelta(days=1)
NEXT_YEAR = NOW + timedelta(days=365)

# active entry, new listing -> the entry that results
MERGE_TABLE = [
    (("all", None), ("marketing", None), ("all", None)),  # an opt-out's default scope
    (("marketing", None), ("all", None), ("all", None)),
    (("marketing", None), ("marketing", TOMORROW), ("marketing", None)),  # never wins
    (("all", None), ("all", TOMORROW), ("all", None)),  # the supervisor's tomorrow
    (("marketing", TOMORROW), ("marketing", NEXT_YEAR), ("marketing", NEXT_YEAR)),
    (("marketing", NEXT_YEAR), ("all", TOMORROW), ("all", NEXT_YEAR)),
    (("marketing", TOMORROW), ("all", None), ("all", None)),
    (("all", NEXT_YEAR), ("marketing", TOMORROW), ("all", NEXT_YEAR)),
]


@pytest.mark.parametrize(("current", "new", "merged"), MERGE_TABLE)
def test_a_new_listing_takes_the_wider_scope_and_the_later_expiry(current, new, merged):
    assert merge(Protection(*current), Protection(*new)) == Protection(*merged)


def test_the_newest_refusal_is_kept_through_a_merge():
    earlier, later = NOW - timedelta(days=30), NOW
    refused = Protection("marketing", None, earlier)
    assert merge(refused, Protection("all", None)).refusal_at == earlier
    assert merge(refused, Protection("marketing", None, later)).refusal_at == later
    assert merge(Protection("all", None), Protection("all", None)).refusal_at is None


# active entry, asked -> weakens
WEAKENS_TABLE = [
    (("all", None), ("marketing", None), True),
    (("all", None), ("all", NEXT_YEAR), True),
    (("marketing", NEXT_YEAR), ("marketing", TOMORROW), True),
    (("marketing", None), ("all", None), False),
    (("marketing", TOMORROW), ("marketing", None), False),
    (("marketing", TOMORROW), ("marketing", TOMORROW), False),
    (("all", NEXT_YEAR), ("marketing", None), True),
]


@pytest.mark.parametrize(("current", "asked", "weaker"), WEAKENS_TABLE)
def test_narrowing_or_an_earlier_expiry_weakens(current, asked, weaker):
    assert weakens(Protection(*current), Protection(*asked)) is weaker


def test_a_replace_may_narrow_an_entry_that_holds_no_refusal():
    current = Protection("all", None)
    assert replace(current, Protection("marketing", TOMORROW), now=NOW, consent=False) == (
        Protection("marketing", TOMORROW)
    )


def test_a_replace_that_weakens_a_refusal_in_its_protection_needs_consent():
    refusal = Protection("all", None, NOW - timedelta(days=10))
    narrower = Protection("marketing", None)
    result = replace(refusal, narrower, now=NOW, consent=False)
    assert result == Refused(earliest_refusal_expiry(NOW - timedelta(days=10)))
    assert replace(refusal, narrower, now=NOW, consent=True) == narrower


def test_a_replace_that_does_not_weaken_needs_no_consent_and_keeps_the_refusal():
    refusal = Protection("marketing", None, NOW)
    assert replace(refusal, Protection("all", None), now=NOW, consent=False) == Protection(
        "all", None, NOW
    )


def test_the_protection_ends_six_calendar_months_after_the_refusal():
    made = datetime(2026, 3, 1, 9, 0, tzinfo=CST)
    refusal = Protection("marketing", None, made)
    assert protected_until(refusal) == datetime(2026, 9, 1, 9, 0, tzinfo=CST)
    assert is_protected(refusal, made + timedelta(days=183, hours=23))  # 183 days is short
    assert not is_protected(refusal, made + timedelta(days=184))
    assert end(refusal, now=made + timedelta(days=100), consent=False) == Refused(
        datetime(2026, 9, 1, 9, 0, tzinfo=CST)
    )
    assert end(refusal, now=made + timedelta(days=100), consent=True) is None
    assert end(refusal, now=made + timedelta(days=184), consent=False) is None
    assert end(Protection("all", None), now=made, consent=False) is None


# The property: whatever listings (PUT without replace, import lines, opt-outs) follow
# each other, at any moment, the (purpose, instant) pairs blocked never shrink; and a
# replace or an end without consent never shrinks them inside a refusal's protection.

scopes = st.sampled_from(["all", "marketing"])
offsets = st.one_of(st.none(), st.integers(min_value=1, max_value=400 * 24))  # hours on
listing = st.tuples(st.sampled_from(["put", "import", "opt_out", "refusal"]), scopes, offsets)
edit = st.tuples(st.sampled_from(["replace", "end"]), scopes, offsets)
step = st.tuples(st.integers(min_value=0, max_value=90 * 24), st.one_of(listing, edit))


def _instants(start: datetime, *entries: Protection | None) -> list[datetime]:
    """Moments that tell two entries apart: now, around each expiry, and far on."""
    moments = [start, start + timedelta(days=3650)]
    for e in entries:
        if e is not None and e.expires_at is not None:
            moments += [e.expires_at - timedelta(seconds=1), e.expires_at]
    return [m for m in moments if m >= start]


def _lost(
    before: Protection | None, after: Protection | None, start: datetime
) -> set[tuple[str, datetime]]:
    """The (purpose, instant) pairs `before` blocks and `after` does not."""
    return {
        (p, t)
        for p in PURPOSES
        for t in _instants(start, before, after)
        if blocks(before, p, t) and not blocks(after, p, t)
    }


@settings(max_examples=500)
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_no_listing_and_no_unconsented_edit_ever_unblocks_a_call(steps):
    now = NOW
    entry: Protection | None = None
    for hours, (kind, scope, offset) in steps:
        now += timedelta(hours=hours)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
            entry = None  # expired, as the store ends it
        expires = None if offset is None else now + timedelta(hours=offset)
        refusal = kind in ("opt_out", "refusal")
        if refusal and expires is not None and expires < earliest_refusal_expiry(now):
            continue  # refused with 400
        asked = Protection(scope, expires, now if refusal else None)
        before = entry
        if kind == "replace":
            result = replace(entry, asked, now=now, consent=False)
            if isinstance(result, Refused):
                assert entry is not None and is_protected(entry, now)
                continue
            protected = entry is not None and is_protected(entry, now)
            entry = result
            if not protected:
                continue  # outside a protection a replace may weaken
        elif kind == "end":
            if entry is None or end(entry, now=now, consent=False) is not None:
                continue
            entry = None
            continue  # an end outside a protection: allowed
        else:
            entry = merge(entry, asked)
        assert not _lost(before, entry, now), (before, asked, entry)


@given(
    current=st.tuples(scopes, offsets),
    asked=st.tuples(scopes, offsets),
)
def test_a_merge_never_blocks_less_than_either_entry(current, asked):
    def entry(scope: str, offset: int | None) -> Protection:
        return Protection(scope, None if offset is None else NOW + timedelta(hours=offset))

    a, b = entry(*current), entry(*asked)
    merged = merge(a, b)
    assert not weakens(a, merged) and not weakens(b, merged)
    assert not _lost(a, merged, NOW) and not _lost(b, merged, NOW)
