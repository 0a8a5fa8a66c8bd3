"""The policy document: defaults, decoding, and the problems validate_policy finds."""

from __future__ import annotations

import msgspec
import pytest

from gateway.policy import (
    DEFAULT_POLICY,
    DayWindows,
    FrequencyPolicy,
    PolicyDocument,
    PolicyProblem,
    RetentionPolicy,
    Window,
    clamp_stored,
    validate_policy,
)
from gateway.policy.document import Clamped

NATIONAL_DEFAULT = {
    "hours": {
        "workday": [{"start": "09:00", "end": "20:00"}],
        "restday": [{"start": "10:00", "end": "18:00"}],
        "holiday": [],
    },
    "province_hours": {},
    "frequency": {"per_day": 2, "per_7_days": 5, "min_gap_minutes": 240},
    "retention": {"no_sale_days": 1095},
    "frequency_purposes": ["marketing", "appointment", "callback", "service"],
    "telesales_product_types": ["ordinary"],
    "cooling_off_days": 15,
}


def test_default_policy_is_the_shipped_default():
    assert msgspec.json.decode(msgspec.json.encode(DEFAULT_POLICY)) == NATIONAL_DEFAULT
    assert validate_policy(DEFAULT_POLICY) == []


def test_the_api_example_document_decodes():
    body = (
        '{"hours": {"workday": [{"start": "09:00", "end": "20:00"}],'
        ' "restday": [{"start": "10:00", "end": "18:00"}], "holiday": []},'
        ' "province_hours": {"北京市": {"workday": [{"start": "09:00", "end": "19:00"}],'
        ' "restday": [], "holiday": []}},'
        ' "frequency": {"per_day": 2, "per_7_days": 5, "min_gap_minutes": 240},'
        ' "retention": {"no_sale_days": 1095}}'
    ).encode()
    doc = msgspec.json.decode(body, type=PolicyDocument)
    assert doc.province_hours["北京市"].workday == (Window("09:00", "19:00"),)
    assert validate_policy(doc) == []


def test_omitted_sections_take_their_defaults():
    doc = msgspec.convert({"hours": NATIONAL_DEFAULT["hours"]}, PolicyDocument)
    assert doc == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"hours": {"workday": [], "restday": []}}, "holiday"),
        ({**NATIONAL_DEFAULT, "provice_hours": {}}, "provice_hours"),
        ({**NATIONAL_DEFAULT, "frequency": {"per_day": 0}}, "per_day"),
        ({**NATIONAL_DEFAULT, "frequency": {"min_gap_minutes": -1}}, "min_gap_minutes"),
        (
            {
                "hours": {
                    "workday": [{"start": "9:00", "end": "20:00"}],
                    "restday": [],
                    "holiday": [],
                }
            },
            "workday[0].start",
        ),
    ],
)
def test_malformed_documents_are_refused_when_decoded(document, where):
    with pytest.raises(msgspec.ValidationError, match=r".*" + where.replace("[", r"\[")):
        msgspec.convert(document, PolicyDocument)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("frequency", "per_day", 1001),
        ("frequency", "per_7_days", 1001),
        ("frequency", "min_gap_minutes", 10081),
        ("retention", "no_sale_days", 36501),
        ("retention", "no_sale_days", 3_000_000),
    ],
)
def test_numbers_past_their_bounds_are_refused_when_decoded(section, field, value):
    document = {**NATIONAL_DEFAULT, section: {**NATIONAL_DEFAULT[section], field: value}}
    with pytest.raises(msgspec.ValidationError, match=rf"<= \d+ - at `\$\.{section}\.{field}`"):
        msgspec.convert(document, PolicyDocument)
    bound = {**document, section: {**document[section], field: value - 1}}
    if value == 3_000_000:
        return
    assert validate_policy(msgspec.convert(bound, PolicyDocument)) == []


def test_a_stored_number_out_of_bounds_is_used_at_its_nearest_bound():
    stored = {
        **NATIONAL_DEFAULT,
        "frequency": {"per_day": 0, "per_7_days": None, "min_gap_minutes": 99_999},
        "retention": {"no_sale_days": 3_000_000},
    }
    document, clamped = clamp_stored(stored)
    assert clamped == [
        Clamped("frequency.per_day", 0, 1),
        Clamped("frequency.min_gap_minutes", 99_999, 10080),
        Clamped("retention.no_sale_days", 3_000_000, 36500),
    ]
    doc = msgspec.convert(document, PolicyDocument)
    assert doc.frequency == FrequencyPolicy(per_day=1, per_7_days=None, min_gap_minutes=10080)
    assert doc.retention == RetentionPolicy(36500)
    assert stored["retention"] == {"no_sale_days": 3_000_000}  # the input is left alone


def test_a_stored_no_sale_days_under_the_floor_is_raised_to_it():
    stored = {**NATIONAL_DEFAULT, "retention": {"no_sale_days": 30}, "cooling_off_days": 400}
    document, clamped = clamp_stored(stored)
    assert clamped == [
        Clamped("retention.no_sale_days", 30, 90),
        Clamped("cooling_off_days", 400, 90),
    ]
    doc = msgspec.convert(document, PolicyDocument)
    assert (doc.retention.no_sale_days, doc.cooling_off_days) == (90, 90)
    assert validate_policy(doc) == []


@pytest.mark.parametrize(
    "stored",
    [
        NATIONAL_DEFAULT,
        {"hours": NATIONAL_DEFAULT["hours"]},
        {**NATIONAL_DEFAULT, "retention": {"no_sale_days": "many"}},
        {**NATIONAL_DEFAULT, "frequency": None},
        ["not", "a", "document"],
    ],
)
def test_a_stored_document_within_bounds_or_not_numeric_is_passed_on_unchanged(stored):
    assert clamp_stored(stored) == (stored, [])


def _doc(**days: tuple[Window, ...]) -> PolicyDocument:
    windows = {"workday": (), "restday": (), "holiday": (), **days}
    return PolicyDocument(hours=DayWindows(**windows))


@pytest.mark.parametrize(
    ("doc", "problems"),
    [
        (_doc(workday=(Window("09:00", "21:00"),)), []),
        (_doc(holiday=(Window("10:00", "12:00"),)), []),
        (
            _doc(workday=(Window("08:30", "20:00"),)),
            [("hours.workday[0].start", True)],
        ),
        (
            _doc(restday=(Window("10:00", "18:00"), Window("19:00", "21:30"))),
            [("hours.restday[1].end", True)],
        ),
        (
            _doc(workday=(Window("08:00", "22:00"),)),
            [("hours.workday[0].start", True), ("hours.workday[0].end", True)],
        ),
        (_doc(workday=(Window("20:00", "09:00"),)), [("hours.workday[0].end", False)]),
        (_doc(workday=(Window("12:00", "12:00"),)), [("hours.workday[0].end", False)]),
        (_doc(workday=(Window("9:00", "20:00"),)), [("hours.workday[0].start", False)]),
        (_doc(workday=(Window("09:00", "24:00"),)), [("hours.workday[0].end", False)]),
        (_doc(holiday=(Window("09:00", "20:60"),)), [("hours.holiday[0].end", False)]),
        (
            PolicyDocument(hours=DEFAULT_POLICY.hours, frequency=FrequencyPolicy(per_day=0)),
            [("frequency.per_day", False)],
        ),
        (
            PolicyDocument(hours=DEFAULT_POLICY.hours, frequency=FrequencyPolicy(per_7_days=-1)),
            [("frequency.per_7_days", False)],
        ),
        (
            PolicyDocument(
                hours=DEFAULT_POLICY.hours,
                frequency=FrequencyPolicy(per_day=None, per_7_days=None, min_gap_minutes=0),
            ),
            [],
        ),
        (
            PolicyDocument(
                hours=DEFAULT_POLICY.hours, frequency=FrequencyPolicy(min_gap_minutes=-5)
            ),
            [("frequency.min_gap_minutes", False)],
        ),
        (
            PolicyDocument(hours=DEFAULT_POLICY.hours, retention=RetentionPolicy(0)),
            [("retention.no_sale_days", True)],
        ),
        (
            PolicyDocument(hours=DEFAULT_POLICY.hours, retention=RetentionPolicy(89)),
            [("retention.no_sale_days", True)],
        ),
        (PolicyDocument(hours=DEFAULT_POLICY.hours, retention=RetentionPolicy(90)), []),
        (
            PolicyDocument(hours=DEFAULT_POLICY.hours, cooling_off_days=0),
            [("cooling_off_days", False)],
        ),
        (
            PolicyDocument(hours=DEFAULT_POLICY.hours, cooling_off_days=91),
            [("cooling_off_days", False)],
        ),
        (PolicyDocument(hours=DEFAULT_POLICY.hours, cooling_off_days=90), []),
        (
            PolicyDocument(
                hours=DEFAULT_POLICY.hours,
                frequency=FrequencyPolicy(per_day=1001, per_7_days=1001, min_gap_minutes=10081),
                retention=RetentionPolicy(36501),
            ),
            [
                ("frequency.per_day", False),
                ("frequency.per_7_days", False),
                ("frequency.min_gap_minutes", False),
                ("retention.no_sale_days", False),
            ],
        ),
        (
            PolicyDocument(
                hours=DEFAULT_POLICY.hours,
                frequency=FrequencyPolicy(per_day=1000, per_7_days=1000, min_gap_minutes=10080),
                retention=RetentionPolicy(36500),
            ),
            [],
        ),
    ],
)
def test_validate_policy_names_each_problem_and_whether_it_breaks_a_floor(doc, problems):
    assert [(p.field, p.below_floor) for p in validate_policy(doc)] == problems


@pytest.mark.parametrize(
    ("purposes", "problems"),
    [
        (("marketing", "appointment", "callback", "service"), []),
        (("service", "appointment", "marketing"), []),
        (("marketing", "appointment"), []),
        (("appointment", "callback", "service"), [("frequency_purposes", True)]),
        (("marketing", "callback"), [("frequency_purposes", True)]),
        ((), [("frequency_purposes", True), ("frequency_purposes", True)]),
        (("marketing", "appointment", "marketing"), [("frequency_purposes", False)]),
        (
            ("callback", "callback"),
            [
                ("frequency_purposes", False),  # callback twice
                ("frequency_purposes", True),  # no appointment
                ("frequency_purposes", True),  # no marketing
            ],
        ),
    ],
)
def test_frequency_purposes_keep_marketing_and_appointment(purposes, problems):
    doc = PolicyDocument(hours=DEFAULT_POLICY.hours, frequency_purposes=purposes)
    assert [(p.field, p.below_floor) for p in validate_policy(doc)] == problems


@pytest.mark.parametrize(
    ("types", "problems"),
    [
        (("ordinary",), []),
        (("participating", "ordinary"), []),
        (("ordinary", "participating", "universal", "unit_linked"), []),
        (("participating",), []),
        ((), [("telesales_product_types", False)]),
        (("ordinary", "ordinary"), [("telesales_product_types", False)]),
    ],
)
def test_telesales_product_types_are_a_non_empty_list_without_repeats(types, problems):
    doc = PolicyDocument(hours=DEFAULT_POLICY.hours, telesales_product_types=types)
    assert [(p.field, p.below_floor) for p in validate_policy(doc)] == problems


def test_an_unknown_product_type_is_refused_when_decoded():
    document = {**NATIONAL_DEFAULT, "telesales_product_types": ["ordinary", "annuity"]}
    with pytest.raises(msgspec.ValidationError, match=r"telesales_product_types\[1\]"):
        msgspec.convert(document, PolicyDocument)


def test_leaving_appointment_out_of_the_caps_says_why():
    doc = PolicyDocument(hours=DEFAULT_POLICY.hours, frequency_purposes=("marketing",))
    assert validate_policy(doc) == [
        PolicyProblem(
            "frequency_purposes",
            "must include appointment: attempts of marketing and appointment calls are "
            "always capped",
            True,
        )
    ]


def test_province_hours_are_held_to_the_same_floor():
    beijing = DayWindows(
        workday=(Window("09:00", "19:00"),),
        restday=(Window("10:00", "18:00"), Window("08:00", "09:30")),
        holiday=(),
    )
    doc = PolicyDocument(hours=DEFAULT_POLICY.hours, province_hours={"北京市": beijing})
    assert validate_policy(doc) == [
        PolicyProblem(
            "province_hours.北京市.restday[1].start", "08:00 is before the 09:00 floor", True
        )
    ]


@pytest.mark.parametrize(
    ("name", "hint"), [("北京", "北京市"), ("广西", "广西壮族自治区"), ("Beijing", None)]
)
def test_unknown_province_names_are_problems_not_floor_breaches(name, hint):
    doc = PolicyDocument(hours=DEFAULT_POLICY.hours, province_hours={name: DEFAULT_POLICY.hours})
    [problem] = validate_policy(doc)
    assert problem.field == f"province_hours.{name}"
    assert problem.below_floor is False
    if hint:
        assert hint in problem.message


def test_policy_types_give_json_schemas():
    schema = msgspec.json.schema(PolicyDocument)
    assert "PolicyDocument" in schema["$defs"]
