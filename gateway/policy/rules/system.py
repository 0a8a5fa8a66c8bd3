"""Rule `system`: fail closed when a fact the check needs could not be established."""

from __future__ import annotations

from gateway.policy.facts import Facts
from gateway.policy.types import Reason, reason


def system_reasons(facts: Facts) -> tuple[Reason, ...]:
    if facts.degraded is None:
        return ()
    return (
        reason(
            "gateway_degraded",
            facts.degraded,
            f"网关暂时无法确认呼叫所需的事实，按规则拒绝（{facts.degraded}）",
        ),
    )
