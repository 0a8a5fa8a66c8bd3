"""The registries a check reads, as one immutable snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import msgspec

from gateway.policy.document import (
    DEFAULT_POLICY,
    HoursPlan,
    PolicyDocument,
    compile_hours,
    counted_purposes,
)
from gateway.policy.numberset import NumberSet
from gateway.policy.types import AgentKind, DayType, ProductType, Purpose

ScriptStatus = Literal["draft", "approved", "filed", "retired"]


class CallerId(msgspec.Struct, frozen=True, kw_only=True):
    """A registered dedicated telemarketing number; `provinces` None means every province."""

    number: str  # normalize_caller_id() form, the snapshot's key
    purposes: frozenset[str]
    provinces: frozenset[str] | None
    active: bool


class Script(msgspec.Struct, frozen=True, kw_only=True):
    script_id: str
    version: int
    status: ScriptStatus
    filing_ref: str | None
    discloses_identity: bool


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    """An agent; `customers` is the customer and referral register (E.164). An
    `individual_agent` (营销员) may make no marketing calls."""

    agent_id: str
    name: str
    licence_valid_until: date  # valid through that day
    training_valid_until: date  # valid through that day
    purposes: frozenset[str]
    active: bool
    customers: NumberSet = msgspec.field(default_factory=NumberSet)
    kind: AgentKind = "telesales"


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    """`caller_ids` in normalize_caller_id() form; empty means any registered caller id.
    `product_type` is the type of product the campaign sells."""

    campaign_id: str
    purpose: Purpose
    script_ids: frozenset[str]
    caller_ids: frozenset[str]
    list_ids: frozenset[str]
    starts_at: datetime | None  # aware; None = open
    ends_at: datetime | None  # aware, exclusive; None = open
    active: bool
    product_type: ProductType = "ordinary"


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Snapshot:
    """Everything a check reads besides the request, the time and the Redis facts.

    Build a new one whenever a registry changes; the hours are compiled here, once.
    """

    version: int
    policy: PolicyDocument = DEFAULT_POLICY
    caller_ids: Mapping[str, CallerId] = field(default_factory=dict)
    scripts: Mapping[tuple[str, int], Script] = field(default_factory=dict)
    agents: Mapping[str, Agent] = field(default_factory=dict)
    campaigns: Mapping[str, Campaign] = field(default_factory=dict)
    lists: Mapping[str, NumberSet] = field(default_factory=dict)
    staff_numbers: frozenset[str] = frozenset()  # E.164
    holidays: Mapping[date, DayType] = field(default_factory=dict)  # win over the built-in
    # The years an admin has declared entered in full: with the built-in calendar's years,
    # the only years whose days have a type (gateway.policy.days).
    complete_years: frozenset[int] = frozenset()
    hours_plan: HoursPlan = field(init=False, repr=False)
    counted_purposes: frozenset[Purpose] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hours_plan", compile_hours(self.policy))
        object.__setattr__(self, "counted_purposes", counted_purposes(self.policy))

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(version=0)

    def replace(self, **changes: Any) -> Snapshot:
        """A new snapshot with some fields changed; derived fields are computed afresh."""
        return dataclasses.replace(self, **changes)
