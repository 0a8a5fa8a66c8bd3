"""Supervisor routes for caller ids, scripts, agents and their customer registers, and
campaigns. Every change is audited and seen by the next check on every process."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from gateway.api.changes import check_text, check_when, set_fields
from gateway.api.routing import Routes, json_response, principal, read_json, required_when
from gateway.appkeys import REGISTRY_SERVICE
from gateway.core.errors import Conflict, InvalidRequest, InvalidState, NotFound
from gateway.policy import (
    PROVINCES,
    AgentKind,
    ProductType,
    Purpose,
    normalize_caller_id,
    normalize_number,
)
from gateway.policy.numbers import dedicated_caller_id
from gateway.services.registries import PatchCheck

routes = Routes()
READERS = ("supervisor", "auditor")
EDITORS = ("supervisor",)

# The lookahead keeps Python's `$` from also matching before a trailing newline.
ID_PATTERN = r"^[A-Za-z0-9._:-]+(?!\n)$"
Id = Annotated[str, Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
_ID = re.compile(ID_PATTERN)
MAX_VERSION = 2**31 - 1  # scripts.version is a PostgreSQL integer
Text = Annotated[str, Meta(min_length=1, max_length=200)]
Purposes = Annotated[list[Purpose], Meta(min_length=1)]
PhoneText = Annotated[str, Meta(min_length=1, max_length=40)]


class Items(msgspec.Struct):
    items: list[dict[str, Any]]


def _provinces(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    unknown = [v for v in values if v not in PROVINCES]
    if unknown:
        raise InvalidRequest(f"provinces: unknown province {unknown[0]!r}")
    return sorted(set(values))


def _unique(values: list[str]) -> list[str]:
    return sorted(set(values))


def path_id(request: web.Request, name: str) -> str:
    """An id from the path; one no create could have accepted is a bad request."""
    value = request.match_info[name]
    if len(value) > 64 or not _ID.fullmatch(value):
        raise InvalidRequest(f"{name}: {value!r} is not an id (1-64 of A-Z a-z 0-9 . _ : -)")
    return value


def _caller_id(raw: str, field: str) -> str:
    """The registry key of a dedicated telemarketing number; 400 naming `field` for a
    mobile or a number that is not valid."""
    number, unfit = dedicated_caller_id(raw)
    if unfit is not None:
        raise InvalidRequest(f"{field}: {raw!r} {unfit}")
    return number


def _check_published(active: bool, published_at: datetime | None) -> None:
    if active and published_at is None:
        raise InvalidRequest(
            "published_at: an active caller id needs published_at, when the number was "
            "published (on the company's website); register it with active false until then"
        )


def _check_caller_id(before: dict[str, Any], changes: dict[str, Any]) -> None:
    active = changes.get("active", before["active"])
    _check_published(active, changes.get("published_at", before["published_at"]))
    if active:
        _, unfit = dedicated_caller_id(before["number"])
        if unfit is not None:
            raise InvalidRequest(f"number: {before['number']} {unfit}; it may only be inactive")


async def _list(request: web.Request, table: str, order: list[str]) -> web.StreamResponse:
    return json_response(Items(await request.app[REGISTRY_SERVICE].all_rows(table, order)))


async def _create(
    request: web.Request,
    table: str,
    part: str,
    entity: str,
    entity_id: str,
    values: dict[str, Any],
) -> web.StreamResponse:
    check_text(values)
    created = await request.app[REGISTRY_SERVICE].create(
        principal(request).name, table, part, entity, entity_id, values
    )
    return json_response(created, status=201)


async def _patch(
    request: web.Request,
    table: str,
    part: str,
    entity: str,
    keys: dict[str, Any],
    changes: dict[str, Any],
    check: PatchCheck | None = None,
) -> web.StreamResponse:
    check_text(changes)
    changed = await request.app[REGISTRY_SERVICE].patch(
        principal(request).name, table, part, entity, keys, changes, check
    )
    return json_response(changed)


# --- caller ids ---------------------------------------------------------------------------


class CallerIdIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    number: PhoneText
    purposes: Purposes
    provinces: list[str] | None = None
    published_at: datetime | None = None
    active: bool = True


class CallerIdPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    purposes: Purposes | UnsetType = UNSET
    provinces: list[str] | UnsetType | None = UNSET
    published_at: datetime | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


@routes.route(
    "GET",
    "/v1/caller-ids",
    roles=READERS,
    response=Items,
    summary="Registered dedicated telemarketing numbers",
)
async def list_caller_ids(request: web.Request) -> web.StreamResponse:
    return await _list(request, "caller_ids", ["number"])


@routes.route(
    "POST",
    "/v1/caller-ids",
    roles=EDITORS,
    body=CallerIdIn,
    status=201,
    summary="Register a dedicated telemarketing number",
    errors=(Conflict,),
)
async def create_caller_id(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, CallerIdIn)
    number = _caller_id(body.number, "number")
    check_when("published_at", body.published_at)
    _check_published(body.active, body.published_at)
    values = {
        "number": number,
        "purposes": _unique(list(body.purposes)),
        "provinces": _provinces(body.provinces),
        "published_at": body.published_at,
        "active": body.active,
    }
    return await _create(request, "caller_ids", "caller_ids", "caller_id", number, values)


@routes.route(
    "PATCH",
    "/v1/caller-ids/{number}",
    roles=EDITORS,
    body=CallerIdPatch,
    summary="Change a registered number (purposes, provinces, active)",
    errors=(NotFound,),
)
async def patch_caller_id(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, CallerIdPatch)
    changes = set_fields(body)
    if "provinces" in changes:
        changes["provinces"] = _provinces(changes["provinces"])
    if "purposes" in changes:
        changes["purposes"] = _unique(list(changes["purposes"]))
    if "published_at" in changes:
        check_when("published_at", changes["published_at"])
    raw = request.match_info["number"]
    number = normalize_caller_id(raw)
    if not number:
        raise NotFound(f"caller_id {raw} does not exist")
    return await _patch(
        request,
        "caller_ids",
        "caller_ids",
        "caller_id",
        {"number": number},
        changes,
        _check_caller_id,
    )


# --- scripts ------------------------------------------------------------------------------

ScriptStatus = Literal["draft", "approved", "filed", "retired"]
# The only moves a script's status may make.
_NEXT: dict[str, set[str]] = {
    "draft": {"approved", "retired"},
    "approved": {"filed", "retired"},
    "filed": {"retired"},
    "retired": set(),
}


class ScriptIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    script_id: Id
    version: Annotated[int, Meta(ge=1, le=MAX_VERSION)]
    title: Text
    text: Annotated[str, Meta(min_length=1, max_length=100_000)]
    status: Literal["draft", "approved", "filed"] = "draft"
    filing_ref: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    discloses_identity: bool = True


class ScriptPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Text | UnsetType = UNSET
    text: Annotated[str, Meta(min_length=1, max_length=100_000)] | UnsetType = UNSET
    status: ScriptStatus | UnsetType = UNSET
    filing_ref: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType | None = UNSET
    discloses_identity: bool | UnsetType = UNSET


def _check_script(before: dict[str, Any], changes: dict[str, Any]) -> None:
    status = before["status"]
    new_status = changes.get("status", status)
    if new_status != status and new_status not in _NEXT[status]:
        raise InvalidState(
            f"status: a {status} script cannot become {new_status} "
            f"(allowed: {', '.join(sorted(_NEXT[status])) or 'none'})"
        )
    wording = {"title", "text", "discloses_identity"} & changes.keys()
    if wording and status != "draft":
        raise InvalidState(
            f"{sorted(wording)[0]}: only a draft's wording can change; create a new version"
        )
    filing_ref = changes.get("filing_ref", before["filing_ref"])
    if new_status == "filed" and not filing_ref:
        raise InvalidRequest("filing_ref: required to mark a script filed")


@routes.route(
    "GET", "/v1/scripts", roles=READERS, response=Items, summary="Scripts and their status"
)
async def list_scripts(request: web.Request) -> web.StreamResponse:
    return await _list(request, "scripts", ["script_id", "version"])


@routes.route(
    "POST",
    "/v1/scripts",
    roles=EDITORS,
    body=ScriptIn,
    body_rules=(required_when("status", "filed", ("filing_ref",)),),
    status=201,
    summary="Add a script version (draft, or approved/filed when importing)",
    errors=(Conflict,),
)
async def create_script(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, ScriptIn)
    if body.status == "filed" and not body.filing_ref:
        raise InvalidRequest("filing_ref: required for a filed script")
    values = msgspec.structs.asdict(body)
    entity_id = f"{body.script_id}/{body.version}"
    return await _create(request, "scripts", "scripts", "script", entity_id, values)


@routes.route(
    "PATCH",
    "/v1/scripts/{script_id}/{version}",
    roles=EDITORS,
    body=ScriptPatch,
    summary="Move a script along draft → approved → filed → retired, or edit a draft",
    errors=(
        NotFound,
        InvalidState,
    ),
)
async def patch_script(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, ScriptPatch)
    raw = request.match_info["version"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= MAX_VERSION:
        raise InvalidRequest(f"version: {raw!r} is not an integer from 1 to {MAX_VERSION}")
    keys = {"script_id": path_id(request, "script_id"), "version": int(raw)}
    return await _patch(
        request, "scripts", "scripts", "script", keys, set_fields(body), _check_script
    )


# --- agents -------------------------------------------------------------------------------


class AgentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: Id
    name: Text
    licence_no: Text
    licence_valid_until: date
    training_valid_until: date
    purposes: Purposes
    active: bool = True
    kind: AgentKind = "telesales"


class AgentPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Text | UnsetType = UNSET
    licence_no: Text | UnsetType = UNSET
    licence_valid_until: date | UnsetType = UNSET
    training_valid_until: date | UnsetType = UNSET
    purposes: Purposes | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    kind: AgentKind | UnsetType = UNSET


class CustomersIn(msgspec.Struct, forbid_unknown_fields=True):
    numbers: list[PhoneText]


class CustomersOut(msgspec.Struct):
    agent_id: str
    count: int


@routes.route(
    "GET",
    "/v1/agents",
    roles=READERS,
    response=Items,
    summary="Agents with licence, training and allowed purposes",
)
async def list_agents(request: web.Request) -> web.StreamResponse:
    return await _list(request, "agents", ["agent_id"])


@routes.route(
    "POST",
    "/v1/agents",
    roles=EDITORS,
    body=AgentIn,
    status=201,
    summary="Add an agent",
    errors=(Conflict,),
)
async def create_agent(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, AgentIn)
    values = msgspec.structs.asdict(body)
    values["purposes"] = _unique(list(body.purposes))
    return await _create(
        request, "agents", f"agent:{body.agent_id}", "agent", body.agent_id, values
    )


@routes.route(
    "PATCH",
    "/v1/agents/{agent_id}",
    roles=EDITORS,
    body=AgentPatch,
    summary="Change an agent (licence, training, purposes, active, kind)",
    errors=(NotFound,),
)
async def patch_agent(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, AgentPatch)
    changes = set_fields(body)
    if "purposes" in changes:
        changes["purposes"] = _unique(list(changes["purposes"]))
    agent_id = path_id(request, "agent_id")
    return await _patch(
        request, "agents", f"agent:{agent_id}", "agent", {"agent_id": agent_id}, changes
    )


def normalize_all(values: list[str], field: str) -> list[str]:
    out: set[str] = set()
    for i, raw in enumerate(values):
        e164 = normalize_number(raw)
        if e164 is None:
            raise InvalidRequest(f"{field}[{i}]: {raw!r} is not a valid number")
        out.add(e164)
    return sorted(out)


@routes.route(
    "PUT",
    "/v1/agents/{agent_id}/customers",
    roles=EDITORS,
    body=CustomersIn,
    response=CustomersOut,
    summary="Replace the agent's own customer and referral register",
    errors=(NotFound,),
)
async def put_customers(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, CustomersIn)
    numbers = normalize_all(body.numbers, "numbers")
    agent_id = path_id(request, "agent_id")

    count = await request.app[REGISTRY_SERVICE].replace_customers(
        principal(request).name, agent_id, numbers
    )
    return json_response(CustomersOut(agent_id, count))


# --- campaigns ----------------------------------------------------------------------------


class CampaignIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    campaign_id: Id
    purpose: Purpose
    script_ids: list[Id] = []
    caller_ids: list[PhoneText] = []
    list_ids: list[Id] = []
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    active: bool = True
    product_type: ProductType = "ordinary"


class CampaignPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    purpose: Purpose | UnsetType = UNSET
    script_ids: list[Id] | UnsetType = UNSET
    caller_ids: list[PhoneText] | UnsetType = UNSET
    list_ids: list[Id] | UnsetType = UNSET
    starts_at: datetime | UnsetType | None = UNSET
    ends_at: datetime | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET
    product_type: ProductType | UnsetType = UNSET


def _campaign_values(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in ("script_ids", "list_ids"):
        if name in out:
            out[name] = _unique(out[name])
    if "caller_ids" in out:
        out["caller_ids"] = sorted(
            {_caller_id(c, f"caller_ids[{i}]") for i, c in enumerate(out["caller_ids"])}
        )
    for name in ("starts_at", "ends_at"):
        if name in out:
            check_when(name, out[name])
    return out


def _check_dates(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidRequest("ends_at: must be after starts_at")


@routes.route("GET", "/v1/campaigns", roles=READERS, response=Items, summary="Campaigns")
async def list_campaigns(request: web.Request) -> web.StreamResponse:
    return await _list(request, "campaigns", ["campaign_id"])


@routes.route(
    "POST",
    "/v1/campaigns",
    roles=EDITORS,
    body=CampaignIn,
    status=201,
    summary="Add a campaign with its scripts, caller ids and approved lists",
    errors=(Conflict,),
)
async def create_campaign(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, CampaignIn)
    values = _campaign_values(msgspec.structs.asdict(body))
    _check_dates(values["starts_at"], values["ends_at"])
    return await _create(request, "campaigns", "campaigns", "campaign", body.campaign_id, values)


@routes.route(
    "PATCH",
    "/v1/campaigns/{campaign_id}",
    roles=EDITORS,
    body=CampaignPatch,
    summary="Change a campaign",
    errors=(NotFound,),
)
async def patch_campaign(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, CampaignPatch)
    changes = _campaign_values(set_fields(body))

    def check(before: dict[str, Any], changes: dict[str, Any]) -> None:
        _check_dates(
            changes.get("starts_at", before["starts_at"]), changes.get("ends_at", before["ends_at"])
        )

    campaign_id = path_id(request, "campaign_id")
    return await _patch(
        request, "campaigns", "campaigns", "campaign", {"campaign_id": campaign_id}, changes, check
    )
