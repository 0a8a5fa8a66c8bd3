"""Rule `frequency`: attempt caps, for calls of the purposes the policy counts (every
purpose by default; marketing and appointment always). One count per callee covers
every counted purpose: a return visit uses up the same day's attempts as a sales call.

The same comparisons the Redis script makes before it counts an attempt:
today >= per_day, last 7 days >= per_7_days, now - last < min_gap.
"""

from __future__ import annotations

from gateway.policy.facts import FactQuery, Facts
from gateway.policy.numbers import mask_number
from gateway.policy.types import Problems, Reason, reason

_MINUTE_MS = 60_000


def frequency_reasons(q: FactQuery, facts: Facts) -> tuple[Reason, ...]:
    if not q.counts_attempts or q.e164 is None:
        return ()
    problems = Problems()
    if q.per_day is not None and facts.attempts_today >= q.per_day:
        problems.add(
            f"{facts.attempts_today} attempts today (cap {q.per_day} a day)",
            f"今日已拨打 {facts.attempts_today} 次（上限每日 {q.per_day} 次）",
        )
    if q.per_7_days is not None and facts.attempts_7_days >= q.per_7_days:
        problems.add(
            f"{facts.attempts_7_days} attempts in the last 7 days (cap {q.per_7_days})",
            f"近 7 日已拨打 {facts.attempts_7_days} 次（上限 {q.per_7_days} 次）",
        )
    last = facts.last_attempt_ms
    # No gap set means none to keep, also when another process's clock ran a little ahead.
    if q.min_gap_ms > 0 and last is not None and q.now_ms - last < q.min_gap_ms:
        ago = max(0, q.now_ms - last) // _MINUTE_MS
        gap = q.min_gap_ms // _MINUTE_MS
        problems.add(
            f"last attempt {ago} min ago (minimum gap {gap} min)",
            f"上次拨打在 {ago} 分钟前（最短间隔 {gap} 分钟）",
        )
    if not problems:
        return ()
    masked = mask_number(q.e164)
    return (
        reason(
            "frequency_exceeded",
            f"attempt cap reached for callee {masked}: " + "; ".join(problems.en),
            f"对被叫号码 {masked} 的拨打已达上限：" + "；".join(problems.zh),
        ),
    )
