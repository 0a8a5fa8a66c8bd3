"""How a new do-not-call entry combines with a number's active one, and when an entry may
be weakened. Pure: the service reads the active entry, asks here, and writes the answer.

- A new entry (a supervisor's `PUT`, an import line, an `opt_out`) **merges** with the
  active one: the wider scope (`all` covers `marketing`) and the later expiry (`None`,
  never, is the latest). So no listing ever unblocks a (purpose, moment) pair that was
  blocked before.
- Only a `replace` sets the entry to exactly what it asks, and only a `replace` or an
  end may narrow the scope or bring the expiry forward.
- A customer's refusal is protected until `earliest_refusal_expiry(refusal_at)` (six
  calendar months, never fewer than 183 days): inside that time a `replace` that weakens
  the entry, or its end, needs the customer's consent as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.policy.facts import DNC_BLOCKING_SCOPES
from gateway.policy.retention import earliest_refusal_expiry
from gateway.policy.types import DncScope, Purpose


@dataclass(frozen=True)
class Protection:
    """What an entry blocks, and the newest customer refusal it holds (None: none)."""

    scope: DncScope
    expires_at: datetime | None
    refusal_at: datetime | None = None


@dataclass(frozen=True)
class Refused:
    """The change would weaken a customer's refusal inside its protection."""

    protected_until: datetime


def wider_scope(a: DncScope, b: DncScope) -> DncScope:
    return "all" if "all" in (a, b) else "marketing"


def later_expiry(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return None
    return max(a, b)


def later_refusal(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def merge(current: Protection | None, new: Protection) -> Protection:
    """The entry a new listing leaves: never weaker than either."""
    if current is None:
        return new
    return Protection(
        wider_scope(current.scope, new.scope),
        later_expiry(current.expires_at, new.expires_at),
        later_refusal(current.refusal_at, new.refusal_at),
    )


def weakens(current: Protection, new: Protection) -> bool:
    """`new` blocks less than `current`: a narrower scope or an earlier expiry."""
    narrower = current.scope == "all" and new.scope == "marketing"
    return narrower or later_expiry(current.expires_at, new.expires_at) != new.expires_at


def protected_until(entry: Protection) -> datetime | None:
    return None if entry.refusal_at is None else earliest_refusal_expiry(entry.refusal_at)


def is_protected(entry: Protection, now: datetime) -> bool:
    until = protected_until(entry)
    return until is not None and now < until


def replace(
    current: Protection | None, new: Protection, *, now: datetime, consent: bool
) -> Protection | Refused:
    """The entry a `replace` leaves. A weakening replace ends the refusal it weakens (the
    customer consented, or its protection is over); one that weakens a protected refusal
    without consent is refused."""
    if current is None or not weakens(current, new):
        return merge(current, new) if current is not None else new
    if is_protected(current, now) and not consent:
        until = protected_until(current)
        assert until is not None
        return Refused(until)
    return new


def end(current: Protection, *, now: datetime, consent: bool) -> Refused | None:
    """None when the entry may be ended; Refused inside a refusal's protection without
    consent."""
    if is_protected(current, now) and not consent:
        until = protected_until(current)
        assert until is not None
        return Refused(until)
    return None


def blocks(entry: Protection | None, purpose: Purpose, at: datetime) -> bool:
    """Whether the entry blocks a call of `purpose` at the moment `at`."""
    if entry is None or entry.scope not in DNC_BLOCKING_SCOPES[purpose]:
        return False
    return entry.expires_at is None or at < entry.expires_at
