"""The policy document an admin sets (`PUT /v1/policy`), its floors, and its compiled hours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, NamedTuple

import msgspec

from gateway.policy.provinces import canonical_province, is_province
from gateway.policy.types import (
    DAY_TYPES,
    PRODUCT_TYPES,
    PURPOSES,
    SELLING_PURPOSES,
    DayType,
    ProductType,
    Purpose,
)

# Regulatory floor ([99号] 六): no calling window may reach outside 09:00-21:00.
FLOOR_START: Final = 9 * 60
FLOOR_END: Final = 21 * 60

# The bounds of every number an admin sets: nothing within them can break a check or a
# read (a retention date, a gap in milliseconds), and nothing sensible lies outside them.
MAX_CAP: Final = 1000  # attempts a day or a week
MAX_GAP_MINUTES: Final = 7 * 24 * 60  # a week
MAX_NO_SALE_DAYS: Final = 36500  # a hundred years
# The shortest a recording without a sale may be kept: a complaint about a call can come
# weeks after it, and the recording is its evidence.
MIN_NO_SALE_DAYS: Final = 90
# The cooling-off period (犹豫期) a return visit must fall in, in days from signing.
DEFAULT_COOLING_OFF_DAYS: Final = 15
MAX_COOLING_OFF_DAYS: Final = 90

_HHMM_PATTERN: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ClockTime = Annotated[str, msgspec.Meta(pattern=_HHMM_PATTERN, examples=["09:00"])]
Cap = Annotated[int, msgspec.Meta(ge=1, le=MAX_CAP)]
GapMinutes = Annotated[int, msgspec.Meta(ge=0, le=MAX_GAP_MINUTES)]
NoSaleDays = Annotated[int, msgspec.Meta(ge=1, le=MAX_NO_SALE_DAYS)]
CoolingOffDays = Annotated[int, msgspec.Meta(ge=1, le=MAX_COOLING_OFF_DAYS)]


class Window(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A calling window `[start, end)` in the callee's local time."""

    start: ClockTime
    end: ClockTime


class DayWindows(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Windows per day type; an empty tuple means no calls on that day type."""

    workday: tuple[Window, ...]
    restday: tuple[Window, ...]
    holiday: tuple[Window, ...]


class FrequencyPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Attempt caps for the calls of `PolicyDocument.frequency_purposes`; None means no
    cap."""

    per_day: Cap | None = 2
    per_7_days: Cap | None = 5
    min_gap_minutes: GapMinutes = 240


class RetentionPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    no_sale_days: NoSaleDays = 1095


class PolicyDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    hours: DayWindows
    province_hours: dict[str, DayWindows] = {}
    frequency: FrequencyPolicy = msgspec.field(default_factory=FrequencyPolicy)
    retention: RetentionPolicy = msgspec.field(default_factory=RetentionPolicy)
    # The purposes whose attempts are counted and capped: every purpose unless the admin
    # takes callback or service out; marketing and appointment can never be taken out.
    frequency_purposes: tuple[Purpose, ...] = PURPOSES
    # The product types marketing and appointment calls may sell ([电销2013]): ordinary
    # products unless the admin allows more (participating ones, for a company that meets
    # the conditions).
    telesales_product_types: tuple[ProductType, ...] = ("ordinary",)
    cooling_off_days: CoolingOffDays = DEFAULT_COOLING_OFF_DAYS


DEFAULT_POLICY: Final = PolicyDocument(
    hours=DayWindows(
        workday=(Window("09:00", "20:00"),),
        restday=(Window("10:00", "18:00"),),
        holiday=(),
    )
)


class PolicyProblem(msgspec.Struct, frozen=True):
    """What is wrong with a policy document; `below_floor` when it breaks a regulatory floor."""

    field: str
    message: str
    below_floor: bool


def parse_clock(text: str) -> int | None:
    """Minutes after midnight of an `HH:MM` time, or None when malformed."""
    if len(text) != 5 or text[2] != ":" or not text.isascii():
        return None
    hours, minutes = text[:2], text[3:]
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    value_h, value_m = int(hours), int(minutes)
    if value_h > 23 or value_m > 59:
        return None
    return value_h * 60 + value_m


def _window_problems(prefix: str, windows: DayWindows) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for kind in DAY_TYPES:
        for index, window in enumerate(getattr(windows, kind)):
            at = f"{prefix}.{kind}[{index}]"
            start, end = parse_clock(window.start), parse_clock(window.end)
            if start is None:
                problems.append(PolicyProblem(f"{at}.start", "must be HH:MM, 00:00-23:59", False))
            if end is None:
                problems.append(PolicyProblem(f"{at}.end", "must be HH:MM, 00:00-23:59", False))
            if start is None or end is None:
                continue
            if start >= end:
                problems.append(
                    PolicyProblem(f"{at}.end", f"must be after start {window.start}", False)
                )
            if start < FLOOR_START:
                problems.append(
                    PolicyProblem(f"{at}.start", f"{window.start} is before the 09:00 floor", True)
                )
            if end > FLOOR_END:
                problems.append(
                    PolicyProblem(f"{at}.end", f"{window.end} is after the 21:00 floor", True)
                )
    return problems


def validate_policy(doc: PolicyDocument) -> list[PolicyProblem]:
    """Every problem with the document; empty when it may be saved.

    A malformed or nonsensical value has `below_floor` False (answer `invalid_request`);
    a window reaching outside 09:00-21:00, or a number under its floor (`FLOORS`), has it
    True (answer `policy_below_floor`).
    """
    problems = _window_problems("hours", doc.hours)
    for name, windows in doc.province_hours.items():
        if not is_province(name):
            known = canonical_province(name)
            hint = f"; did you mean {known}?" if known else ""
            problems.append(
                PolicyProblem(
                    f"province_hours.{name}",
                    f"unknown province {name!r}: use the full name, e.g. 北京市, 江苏省{hint}",
                    False,
                )
            )
        problems.extend(_window_problems(f"province_hours.{name}", windows))
    problems.extend(_purpose_problems(doc.frequency_purposes))
    problems.extend(_product_problems(doc.telesales_product_types))
    for field, value in _numbers(doc):
        low, high, nullable = BOUNDS[field]
        if value is None and nullable:
            continue
        if value is not None and field in FLOORS and value < FLOORS[field]:
            problems.append(
                PolicyProblem(field, f"{value} is below the floor of {FLOORS[field]}", True)
            )
            continue
        if value is None or not low <= value <= high:
            what = f"an integer from {low} to {high}" + (" or null" if nullable else "")
            problems.append(PolicyProblem(field, f"must be {what}", False))
    return problems


def _purpose_problems(purposes: tuple[Purpose, ...]) -> list[PolicyProblem]:
    problems = [
        PolicyProblem("frequency_purposes", f"lists {p} more than once", False)
        for p in PURPOSES
        if purposes.count(p) > 1
    ]
    problems.extend(
        PolicyProblem(
            "frequency_purposes",
            f"must include {p}: attempts of marketing and appointment calls are always capped",
            True,
        )
        for p in sorted(SELLING_PURPOSES)
        if p not in purposes
    )
    return problems


def _product_problems(types: tuple[ProductType, ...]) -> list[PolicyProblem]:
    if not types:
        return [PolicyProblem("telesales_product_types", "must name at least one type", False)]
    return [
        PolicyProblem("telesales_product_types", f"lists {t} more than once", False)
        for t in PRODUCT_TYPES
        if types.count(t) > 1
    ]


def counted_purposes(doc: PolicyDocument) -> frozenset[Purpose]:
    """The purposes whose attempts are counted and capped. Marketing and appointment are
    counted whatever the document says: no document lets them escape the caps."""
    return SELLING_PURPOSES | frozenset(doc.frequency_purposes)


# Each number of the document: (least, greatest, whether null is allowed).
BOUNDS: Final[Mapping[str, tuple[int, int, bool]]] = {
    "frequency.per_day": (1, MAX_CAP, True),
    "frequency.per_7_days": (1, MAX_CAP, True),
    "frequency.min_gap_minutes": (0, MAX_GAP_MINUTES, False),
    "retention.no_sale_days": (MIN_NO_SALE_DAYS, MAX_NO_SALE_DAYS, False),
    "cooling_off_days": (1, MAX_COOLING_OFF_DAYS, False),
}

# The numbers whose least value is a regulatory floor: a value under it is refused as
# `policy_below_floor`, and a stored one is raised to it.
FLOORS: Final[Mapping[str, int]] = {"retention.no_sale_days": MIN_NO_SALE_DAYS}


def _numbers(doc: PolicyDocument) -> list[tuple[str, int | None]]:
    return [
        ("frequency.per_day", doc.frequency.per_day),
        ("frequency.per_7_days", doc.frequency.per_7_days),
        ("frequency.min_gap_minutes", doc.frequency.min_gap_minutes),
        ("retention.no_sale_days", doc.retention.no_sale_days),
        ("cooling_off_days", doc.cooling_off_days),
    ]


class Clamped(NamedTuple):
    """A stored number brought within its bounds."""

    field: str
    stored: int
    used: int


def clamp_stored(document: Any) -> tuple[Any, list[Clamped]]:
    """A stored document (decoded JSON) with each integer outside `BOUNDS` replaced by the
    nearest bound, and what was replaced; anything else is left for decoding to judge.

    A document saved before the bounds existed may hold, say, `no_sale_days` 3000000;
    refusing it would put the default in force (1095 days: recordings deleted sooner than
    the admin chose), while the nearest bound keeps the admin's direction.
    """
    if not isinstance(document, dict):
        return document, []
    out = dict(document)
    clamped: list[Clamped] = []
    for field, (low, high, _) in BOUNDS.items():
        section, _, name = field.rpartition(".")
        part = out.get(section) if section else out
        if not isinstance(part, dict):
            continue
        value = part.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or low <= value <= high:
            continue
        used = min(max(value, low), high)
        if section:
            out[section] = {**part, name: used}
        else:
            out[name] = used
        clamped.append(Clamped(field, value, used))
    return out, clamped


class DayPlan(NamedTuple):
    """One day type's windows as minute spans, and how a message names them."""

    spans: tuple[tuple[int, int], ...]
    label: str

    def allows(self, minute: int) -> bool:
        for start, end in self.spans:
            if start <= minute < end:
                return True
        return False


class HoursPlan(NamedTuple):
    """A document's hours compiled once per snapshot, so checks never parse `HH:MM`."""

    national: Mapping[DayType, DayPlan]
    by_province: Mapping[str, Mapping[DayType, DayPlan]]

    def for_province(self, province: str | None) -> tuple[Mapping[DayType, DayPlan], str | None]:
        """The plan for a callee's province, and the province when it has its own hours."""
        if province is not None:
            plan = self.by_province.get(province)
            if plan is not None:
                return plan, province
        return self.national, None


def _compile_day(windows: tuple[Window, ...]) -> DayPlan:
    spans: list[tuple[int, int]] = []
    for window in windows:
        start, end = parse_clock(window.start), parse_clock(window.end)
        if start is None or end is None:
            raise ValueError(f"malformed window {window.start}-{window.end}")
        spans.append((start, end))
    spans.sort()
    label = ", ".join(f"{w.start}-{w.end}" for w in sorted(windows, key=lambda w: w.start))
    return DayPlan(tuple(spans), label or "no window")


def _compile_days(windows: DayWindows) -> Mapping[DayType, DayPlan]:
    return {kind: _compile_day(getattr(windows, kind)) for kind in DAY_TYPES}


def compile_hours(doc: PolicyDocument) -> HoursPlan:
    """Raises ValueError for a malformed window; `validate_policy` reports those first."""
    return HoursPlan(
        national=_compile_days(doc.hours),
        by_province={name: _compile_days(w) for name, w in doc.province_hours.items()},
    )
