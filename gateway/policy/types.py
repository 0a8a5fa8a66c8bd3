"""Names every rule shares: purposes, scopes, day types, reasons and verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

import msgspec

Purpose = Literal["marketing", "appointment", "callback", "service"]
DncScope = Literal["all", "marketing"]
DayType = Literal["workday", "restday", "holiday"]
Decision = Literal["allow", "deny"]
AgentKind = Literal["telesales", "individual_agent"]
ProductType = Literal["ordinary", "participating", "universal", "unit_linked"]

ReasonCode = Literal[
    "invalid_number",
    "staff_number",
    "dnc_listed",
    "outside_calling_hours",
    "holiday_blocked",
    "calendar_unavailable",
    "caller_id_not_registered",
    "script_not_approved",
    "agent_not_authorized",
    "cold_call_forbidden",
    "callback_by_seller",
    "campaign_not_active",
    "product_not_allowed",
    "not_in_approved_list",
    "frequency_exceeded",
    "gateway_degraded",
]

PURPOSES: Final[tuple[Purpose, ...]] = ("marketing", "appointment", "callback", "service")
DNC_SCOPES: Final[tuple[DncScope, ...]] = ("all", "marketing")
DAY_TYPES: Final[tuple[DayType, ...]] = ("workday", "restday", "holiday")
# Call-centre staff, or an individual agent (营销员), who may make no marketing calls.
AGENT_KINDS: Final[tuple[AgentKind, ...]] = ("telesales", "individual_agent")
PRODUCT_TYPES: Final[tuple[ProductType, ...]] = (
    "ordinary",
    "participating",
    "universal",
    "unit_linked",
)

# How Chinese messages name each purpose, scope and day type.
PURPOSE_ZH: Final[Mapping[str, str]] = MappingProxyType(
    {"marketing": "营销", "appointment": "约访", "callback": "回访", "service": "服务"}
)
SCOPE_ZH: Final[Mapping[str, str]] = MappingProxyType(
    {"all": "全部呼叫", "marketing": "营销类呼叫"}
)
PRODUCT_ZH: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ordinary": "普通型",
        "participating": "分红型",
        "universal": "万能型",
        "unit_linked": "投资连结型",
    }
)
DAY_ZH: Final[Mapping[str, str]] = MappingProxyType(
    {"workday": "工作日", "restday": "休息日", "holiday": "法定节假日"}
)

# Purposes that sell: a script and a campaign are required, attempts are always capped
# (whatever the policy's frequency_purposes say) and a marketing do-not-call entry blocks
# them.
SELLING_PURPOSES: Final[frozenset[Purpose]] = frozenset({"marketing", "appointment"})


class ReasonInfo(msgspec.Struct, frozen=True):
    """What every reason of a code shares: its rule, the clause it enforces, and a Chinese
    summary for a record stored before reasons carried their own Chinese message."""

    rule: str
    source: str
    summary_zh: str


_S99 = "《关于进一步规范人身保险电话营销和电话约访行为的通知》（保监发〔2010〕99号）"
_S2013 = "《人身保险电话销售业务管理办法》（保监发〔2013〕40号）"
_TRUTH = "《人身保险客户信息真实性管理暂行办法》（保监发〔2013〕82号）"
_SERVICE = "《人身保险业务基本服务规定》（保监会令2010年第4号）"
_OWN = "本网关的规则：无法确认合规时拒绝呼叫（fail closed）"

# The one table of reason codes: each code's rule, source and Chinese summary. A test keeps
# it equal to `ReasonCode`, to the reason table of docs/API.md and to the OpenAPI document.
REASONS: Final[Mapping[str, ReasonInfo]] = MappingProxyType(
    {
        "invalid_number": ReasonInfo(
            "number", f"{_TRUTH} 操作要求一、二", "被叫号码不是可拨打的中国大陆客户号码"
        ),
        "staff_number": ReasonInfo(
            "number", f"{_TRUTH} 操作要求二", "被叫号码是登记的员工或机构号码，不是客户本人号码"
        ),
        "dnc_listed": ReasonInfo("dnc", f"{_S99} 第六条；{_S2013}", "被叫号码在禁止拨打名单中"),
        "outside_calling_hours": ReasonInfo(
            "hours",
            f"{_S99} 第六条（设置准许拨打的时间）；{_S2013}（21:00至次日9:00不得电话销售）",
            "当前不在准许拨打的时间内",
        ),
        "holiday_blocked": ReasonInfo(
            "hours", f"{_S99} 第六条（设置准许拨打的时间）", "法定节假日不准许拨打"
        ),
        "calendar_unavailable": ReasonInfo(
            "hours", f"{_OWN}；{_S99} 第六条", "没有覆盖当日的节假日日历，无法判断准许拨打的时间"
        ),
        "caller_id_not_registered": ReasonInfo(
            "caller_id", f"{_S99} 第二条", "主叫号码不是登记启用的电话营销专用号码"
        ),
        "script_not_approved": ReasonInfo(
            "script", f"{_S99} 第四条、第六条", "话术未经审核备案或不属于该营销活动"
        ),
        "agent_not_authorized": ReasonInfo(
            "agent", f"{_S99} 第四条；{_S2013}", "坐席未登记、未启用，或执业资格、培训已过期"
        ),
        "cold_call_forbidden": ReasonInfo(
            "agent", f"{_S99} 第三条、第四条", "禁止营销员个人随机拨打陌生客户电话"
        ),
        "callback_by_seller": ReasonInfo(
            "agent", f"{_SERVICE} 第十四条、第十五条", "回访不得由销售该保单的人员进行"
        ),
        "campaign_not_active": ReasonInfo(
            "campaign", f"{_S99} 第六条、第七条", "营销活动未登记、未启用或不在有效期内"
        ),
        "product_not_allowed": ReasonInfo(
            "campaign",
            f"{_S2013}（电话销售的产品范围）",
            "该营销活动销售的产品类型不在电话销售允许的产品范围内",
        ),
        "not_in_approved_list": ReasonInfo(
            "list",
            f"{_S99} 第五条、第六条；《中华人民共和国个人信息保护法》第十三条",
            "被叫号码不在该营销活动经批准的名单中",
        ),
        "frequency_exceeded": ReasonInfo(
            "frequency", f"{_S99} 第六条、第七条（不得滋扰客户）", "已达到对该号码的拨打次数上限"
        ),
        "gateway_degraded": ReasonInfo(
            "system", _OWN, "网关暂时无法确认呼叫所需的事实，按规则拒绝"
        ),
    }
)

# Reason code → rule, as before.
REASON_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {code: info.rule for code, info in REASONS.items()}
)


class Reason(msgspec.Struct, frozen=True):
    code: str
    rule: str
    message: str
    message_zh: str = ""
    source: str = ""


def reason(code: ReasonCode, message: str, message_zh: str) -> Reason:
    """A reason with the rule its code belongs to and the clause it enforces."""
    info = REASONS[code]
    return Reason(code, info.rule, message, message_zh, info.source)


def completed(r: Reason) -> Reason:
    """A reason as answered: one stored before reasons carried Chinese and their source
    gets the code's summary and source."""
    if r.message_zh and r.source:
        return r
    info = REASONS.get(r.code)
    if info is None:
        return r
    return Reason(r.code, r.rule, r.message, r.message_zh or info.summary_zh, info.source)


def completed_fields(stored: Mapping[str, Any]) -> dict[str, Any]:
    """`completed` for a reason stored as a JSON object."""
    fields = dict(stored)
    info = REASONS.get(str(fields.get("code")))
    if info is not None:
        fields.setdefault("message_zh", info.summary_zh)
        fields.setdefault("source", info.source)
        if not fields["message_zh"]:
            fields["message_zh"] = info.summary_zh
        if not fields["source"]:
            fields["source"] = info.source
    return fields


class Problems:
    """The problems one rule found, in English and Chinese, for its one reason."""

    __slots__ = ("en", "zh")

    def __init__(self) -> None:
        self.en: list[str] = []
        self.zh: list[str] = []

    def add(self, en: str, zh: str) -> None:
        self.en.append(en)
        self.zh.append(zh)

    def __bool__(self) -> bool:
        return bool(self.en)

    def reason(self, code: ReasonCode, subject: str, subject_zh: str) -> Reason:
        return reason(code, f"{subject} " + "; ".join(self.en), subject_zh + "；".join(self.zh))


class Verdict(msgspec.Struct, frozen=True):
    decision: Decision
    reasons: tuple[Reason, ...]

    @classmethod
    def of(cls, reasons: tuple[Reason, ...]) -> Verdict:
        """Deny exactly when some rule gave a reason."""
        return cls("deny" if reasons else "allow", reasons)
