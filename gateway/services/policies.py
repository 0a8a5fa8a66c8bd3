"""The policies sold on calls, and their return visits (回访).

A call may sell several policies, and one policy may be linked to several calls. A
policy's term and termination are its own: the first link sets them, and after that only
a supervisor changes them (`amend`, with a reason, audited); a link that states other
terms is refused, so a dialer cannot shorten how long the evidence is kept. A call's
retention follows the longest-lived of its policies.

A policy of more than a year sold on a sales call gets a return visit, due by the end of
the cooling-off period from signing (`gateway.services.return_visits`). A callback call
names the policy it visits in its check (`policy_no`), or a supervisor names it
afterwards; its seller may not make the visit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from gateway.core.aliases import Conn, Db
from gateway.core.errors import Conflict, Forbidden, InvalidRequest, InvalidState, NotFound
from gateway.policy import PolicyTerms, RetentionPolicy, retention_until
from gateway.policy.retention import needs_return_visit, return_visit_due_by
from gateway.services.call_events import record_exception
from gateway.services.return_visits import visit_item
from gateway.store import audit
from gateway.store.registry_cache import RegistryCache

Unset = msgspec.UnsetType
NON_SALES_PURPOSES = frozenset({"service", "callback"})
AUDIT_ENTITY = "insurance_policy"  # "policy" names the policy document in the audit log


class PolicyTermsLocked(Forbidden):
    """A link stating a term or termination other than the linked policy's own."""


class UnknownPolicy(NotFound):
    """No call has been linked to a policy with this number."""


@dataclass(frozen=True)
class Linked:
    created: bool  # the policy was not linked to this call before
    policy_no: str
    term_months: int
    terminated_at: datetime | None
    signed_at: datetime
    retention_until: datetime | None  # the call's, over all its policies
    exception: str | None  # the compliance exception the link opened
    return_visit_due_by: datetime | None


_CALL_TERMS = """
    SELECT p.term_months, p.terminated_at
    FROM call_policies cp JOIN policies p USING (policy_no) WHERE cp.call_id = $1
    UNION ALL
    SELECT p.term_months, p.terminated_at FROM policies p
    WHERE p.policy_no = call_visited_policy($1, $2, $3)
"""


async def call_retention(
    db: Db, call: asyncpg.Record | dict[str, Any], retention: RetentionPolicy
) -> datetime | None:
    """The retention date of a call (a row with call_id, created_at, purpose, request)
    over every policy it sold or visited."""
    rows = await db.fetch(_CALL_TERMS, call["call_id"], call["purpose"], call["request"])
    return retention_until(
        call["created_at"],
        retention,
        [PolicyTerms(r["term_months"], r["terminated_at"]) for r in rows],
        return_visit=call["purpose"] == "callback",
    )


class Policies:
    def __init__(
        self, pool: asyncpg.Pool[Any], registries: RegistryCache, clock: Callable[[], datetime]
    ) -> None:
        self._pool = pool
        self._registries = registries
        self._clock = clock

    def _not_future(self, terminated_at: datetime | None) -> None:
        if terminated_at is not None and terminated_at > self._clock():
            raise InvalidRequest(
                "terminated_at: may be set once the contract has ended, not in the future"
            )

    async def link(
        self,
        actor: str,
        call_id: uuid.UUID,
        policy_no: str,
        term_months: int,
        terminated_at: datetime | Unset | None,
        signed_at: datetime | None,
    ) -> Linked:
        """Link a policy sold on a call. The first link of a policy sets its terms; a later
        one must state the same (PolicyTermsLocked otherwise; an absent `terminated_at`
        states nothing). Linking the same policy to the same call again changes nothing
        (Conflict when it names another `signed_at`)."""
        policy_doc = self._registries.current.policy
        async with self._pool.acquire() as conn, conn.transaction():
            call = await conn.fetchrow(
                "SELECT call_id, created_at, purpose, agent_id, campaign_id, request "
                "FROM calls WHERE call_id = $1",
                call_id,
            )
            if call is None:
                raise NotFound(f"no call {call_id}")
            ended = None if isinstance(terminated_at, Unset) else terminated_at
            policy = await conn.fetchrow(
                "SELECT * FROM policies WHERE policy_no = $1 FOR UPDATE", policy_no
            )
            if policy is None:
                self._not_future(ended)
                await conn.execute(
                    "INSERT INTO policies (policy_no, term_months, terminated_at, created_by) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (policy_no) DO NOTHING",
                    policy_no,
                    term_months,
                    ended,
                    actor,
                )
                policy = await conn.fetchrow(
                    "SELECT * FROM policies WHERE policy_no = $1 FOR UPDATE", policy_no
                )
            assert policy is not None
            _same_terms(policy, term_months, terminated_at)
            link = await conn.fetchrow(
                "INSERT INTO call_policies (call_id, policy_no, signed_at, linked_by) "
                "VALUES ($1, $2, coalesce($3, now()), $4) ON CONFLICT DO NOTHING RETURNING *",
                call_id,
                policy_no,
                signed_at,
                actor,
            )
            created = link is not None
            exception = None
            if link is None:
                link = await conn.fetchrow(
                    "SELECT * FROM call_policies WHERE call_id = $1 AND policy_no = $2",
                    call_id,
                    policy_no,
                )
                assert link is not None
                if signed_at is not None and signed_at != link["signed_at"]:
                    raise Conflict(
                        f"policy {policy_no} is linked to call {call_id} signed at "
                        f"{link['signed_at'].isoformat()}"
                    )
            else:
                await audit.record(
                    conn,
                    actor=actor,
                    action="link_sale",
                    entity="call",
                    entity_id=str(call_id),
                    after={
                        **dict(link),
                        "term_months": policy["term_months"],
                        "terminated_at": policy["terminated_at"],
                    },
                )
                if call["purpose"] in NON_SALES_PURPOSES:
                    exception = "sale_on_non_sales_call"
                    await record_exception(
                        conn,
                        exception,
                        call_id,
                        {"policy_no": policy_no, "purpose": call["purpose"], "linked_by": actor},
                    )
                elif needs_return_visit(call["purpose"], policy["term_months"]):
                    await conn.execute(
                        "INSERT INTO return_visits (policy_no, sales_call_id, seller_agent_id, "
                        "campaign_id, signed_at, due_by) VALUES ($1, $2, $3, $4, $5, $6) "
                        "ON CONFLICT (policy_no) DO NOTHING",
                        policy_no,
                        call_id,
                        call["agent_id"],
                        call["campaign_id"],
                        link["signed_at"],
                        return_visit_due_by(link["signed_at"], policy_doc.cooling_off_days),
                    )
            due_by = await conn.fetchval(
                "SELECT due_by FROM return_visits WHERE policy_no = $1", policy_no
            )
            until = await call_retention(conn, call, policy_doc.retention)
        return Linked(
            created=created,
            policy_no=policy_no,
            term_months=policy["term_months"],
            terminated_at=policy["terminated_at"],
            signed_at=link["signed_at"],
            retention_until=until,
            exception=exception,
            return_visit_due_by=due_by,
        )

    async def amend(
        self,
        actor: str,
        policy_no: str,
        term_months: int | Unset,
        terminated_at: datetime | Unset | None,
        reason: str,
    ) -> dict[str, Any]:
        """Change a linked policy's term or termination (audited); the answer shows the
        retention of every call it was sold on, as it now is."""
        changes: dict[str, Any] = {}
        if not isinstance(term_months, Unset):
            changes["term_months"] = term_months
        if not isinstance(terminated_at, Unset):
            self._not_future(terminated_at)
            changes["terminated_at"] = terminated_at
        if not changes:
            raise InvalidRequest("term_months, terminated_at: give at least one to change")
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                "SELECT * FROM policies WHERE policy_no = $1 FOR UPDATE", policy_no
            )
            if before is None:
                raise UnknownPolicy(f"no policy {policy_no}")
            after = await conn.fetchrow(
                "UPDATE policies SET term_months = coalesce($2, term_months), "
                "terminated_at = CASE WHEN $3 THEN $4 ELSE terminated_at END, "
                "updated_by = $5, updated_at = now() WHERE policy_no = $1 RETURNING *",
                policy_no,
                changes.get("term_months"),
                "terminated_at" in changes,
                changes.get("terminated_at"),
                actor,
            )
            await audit.record(
                conn,
                actor=actor,
                action="amend",
                entity=AUDIT_ENTITY,
                entity_id=policy_no,
                before=dict(before),
                after=dict(after) if after else None,
                reason=reason,
            )
            return await self._view(conn, policy_no)

    async def get(self, policy_no: str) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            return await self._view(conn, policy_no)

    async def _view(self, conn: Conn, policy_no: str) -> dict[str, Any]:
        policy = await conn.fetchrow("SELECT * FROM policies WHERE policy_no = $1", policy_no)
        if policy is None:
            raise UnknownPolicy(f"no policy {policy_no}")
        calls = await conn.fetch(
            "SELECT c.call_id, c.created_at, c.purpose, c.agent_id, c.request, cp.signed_at, "
            "cp.linked_by, cp.linked_at FROM call_policies cp JOIN calls c USING (call_id) "
            "WHERE cp.policy_no = $1 ORDER BY cp.linked_at, c.call_id",
            policy_no,
        )
        visit = await conn.fetchrow("SELECT * FROM return_visits WHERE policy_no = $1", policy_no)
        retention = self._registries.current.policy.retention
        return {
            "policy_no": policy_no,
            "term_months": policy["term_months"],
            "terminated_at": policy["terminated_at"],
            "created_by": policy["created_by"],
            "created_at": policy["created_at"],
            "updated_by": policy["updated_by"],
            "updated_at": policy["updated_at"],
            "calls": [
                {
                    "call_id": str(c["call_id"]),
                    "purpose": c["purpose"],
                    "agent_id": c["agent_id"],
                    "signed_at": c["signed_at"],
                    "linked_by": c["linked_by"],
                    "linked_at": c["linked_at"],
                    "retention_until": await call_retention(conn, c, retention),
                }
                for c in calls
            ],
            "return_visit": visit_item(visit, self._clock()) if visit else None,
        }

    async def sellers(self, policy_no: str) -> frozenset[str]:
        """The agents of the calls a policy was linked to: its sellers, who may not make
        its return visit. InvalidRequest (naming `policy_no`) for a policy never linked."""
        async with self._pool.acquire() as conn:
            sellers = await _sellers(conn, policy_no)
        if not sellers:
            raise InvalidRequest(f"policy_no: no policy {policy_no} has been linked to a call")
        return sellers

    async def name_visit(
        self, actor: str, call_id: uuid.UUID, policy_no: str, reason: str
    ) -> dict[str, Any]:
        """Name the policy a callback call visited, when its check named none (audited)."""
        async with self._pool.acquire() as conn, conn.transaction():
            call = await conn.fetchrow(
                "SELECT call_id, created_at, purpose, request, agent_id, "
                "call_visited_policy(call_id, purpose, request) AS policy_no "
                "FROM calls WHERE call_id = $1 FOR UPDATE",
                call_id,
            )
            if call is None:
                raise NotFound(f"no call {call_id}")
            if call["purpose"] != "callback":
                raise InvalidState(
                    f"call {call_id} is a {call['purpose']} call, not a return visit"
                )
            if call["policy_no"] is not None and call["policy_no"] != policy_no:
                raise InvalidState(f"call {call_id} visited policy {call['policy_no']}")
            known = await conn.fetchval("SELECT 1 FROM policies WHERE policy_no = $1", policy_no)
            if known is None:
                raise InvalidRequest(f"policy_no: no policy {policy_no} has been linked to a call")
            if call["policy_no"] is None:
                row = await conn.fetchrow(
                    "INSERT INTO call_visits (call_id, policy_no, named_by) VALUES ($1, $2, $3) "
                    "ON CONFLICT (call_id) DO NOTHING RETURNING *",
                    call_id,
                    policy_no,
                    actor,
                )
                if row is None:  # named by another request meanwhile
                    named = await conn.fetchval(
                        "SELECT policy_no FROM call_visits WHERE call_id = $1", call_id
                    )
                    if named != policy_no:
                        raise InvalidState(f"call {call_id} visited policy {named}")
                    until = await call_retention(
                        conn, call, self._registries.current.policy.retention
                    )
                    return {
                        "call_id": str(call_id),
                        "policy_no": policy_no,
                        "retention_until": until,
                    }
                if call["agent_id"] in await _sellers(conn, policy_no):
                    await record_exception(
                        conn,
                        "return_visit_by_seller",
                        call_id,
                        {"policy_no": policy_no, "agent_id": call["agent_id"], "named_by": actor},
                    )
                await audit.record(
                    conn,
                    actor=actor,
                    action="name_visit",
                    entity="call",
                    entity_id=str(call_id),
                    after=dict(row) if row else None,
                    reason=reason,
                )
            until = await call_retention(conn, call, self._registries.current.policy.retention)
        return {"call_id": str(call_id), "policy_no": policy_no, "retention_until": until}


async def _sellers(conn: Conn, policy_no: str) -> frozenset[str]:
    """The agents of the calls a policy was linked to: its sellers."""
    rows = await conn.fetch(
        "SELECT DISTINCT c.agent_id FROM call_policies cp JOIN calls c USING (call_id) "
        "WHERE cp.policy_no = $1",
        policy_no,
    )
    return frozenset(r["agent_id"] for r in rows)


def _same_terms(
    policy: asyncpg.Record, term_months: int, terminated_at: datetime | Unset | None
) -> None:
    differ = []
    if term_months != policy["term_months"]:
        differ.append(f"term_months {policy['term_months']}")
    if not isinstance(terminated_at, Unset) and terminated_at != policy["terminated_at"]:
        stored = policy["terminated_at"]
        differ.append(f"terminated_at {stored.isoformat() if stored else 'null'}")
    if differ:
        raise PolicyTermsLocked(
            f"policy {policy['policy_no']} is linked with {', '.join(differ)}; a supervisor "
            f"changes its terms with PATCH /v1/policies/{policy['policy_no']}"
        )
