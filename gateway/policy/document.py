"""The policy document an admin sets (`PUT /v1/policy`), its floors, and its compiled hours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, NamedTuple

import msgspec

from gateway.policy.provinces import canonical_province, is_province
from gateway.policy.types import DAY_TYPES, DayType

# Regulatory floor ([99号] 六): no calling window may reach outside 09:00-21:00.
FLOOR_START: Final = 9 * 60
FLOOR_END: Final = 21 * 60

_HHMM_PATTERN: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ClockTime = Annotated[str, msgspec.Meta(pattern=_HHMM_PATTERN, examples=["09:00"])]
Cap = Annotated[int, msgspec.Meta(ge=1)]


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
    """Attempt caps for marketing and appointment calls; None means no cap."""

    per_day: Cap | None = 2
    per_7_days: Cap | None = 5
    min_gap_minutes: Annotated[int, msgspec.Meta(ge=0)] = 240


class RetentionPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    no_sale_days: Annotated[int, msgspec.Meta(ge=1)] = 1095


class PolicyDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    hours: DayWindows
    province_hours: dict[str, DayWindows] = {}
    frequency: FrequencyPolicy = msgspec.field(default_factory=FrequencyPolicy)
    retention: RetentionPolicy = msgspec.field(default_factory=RetentionPolicy)


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
    a window reaching outside 09:00-21:00 has it True (answer `policy_below_floor`).
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
    frequency = doc.frequency
    for field, cap in (("per_day", frequency.per_day), ("per_7_days", frequency.per_7_days)):
        if cap is not None and cap < 1:
            problems.append(
                PolicyProblem(f"frequency.{field}", "must be a positive integer or null", False)
            )
    if frequency.min_gap_minutes < 0:
        problems.append(PolicyProblem("frequency.min_gap_minutes", "must be 0 or more", False))
    if doc.retention.no_sale_days < 1:
        problems.append(PolicyProblem("retention.no_sale_days", "must be 1 or more", False))
    return problems


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
