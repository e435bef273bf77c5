"""The built-in JSON schemas match the wire contract of the five APIs."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

# Fields each stream's records carry (apis.md), plus the parent binding the tap adds
# to child streams (cus_id, study_id).
FIELDS: dict[str, dict[str, str]] = {
    "payments": {
        "customers": "id firstName lastName email type status created businessName",
        "funding_sources": (
            "id status type bankAccountType name created removed channels bankName fingerprint "
            "cus_id"
        ),
        "events": "id created topic resourceId _links",
        "exchange_partners": "id name status created",
        "business_classifications": "id name _embedded",
    },
    "billing": {
        "customers": "id name email status custom_data created_at updated_at",
        "customer_addresses": (
            "id customer_id country_code postal_code city status created_at updated_at cus_id"
        ),
        "businesses": "id customer_id name company_number status created_at updated_at cus_id",
        "discounts": "id description type amount status created_at updated_at",
        "prices": "id product_id description unit_price status created_at updated_at",
        "products": "id name tax_category status created_at updated_at",
        "events": "id event_type occurred_at data",
        "event_types": "name description group available_versions",
        "reports": "id type status rows created_at updated_at",
        "ip_addresses": "ipv4_cidrs",
        "subscriptions": (
            "id customer_id status currency_code next_billed_at items created_at updated_at"
        ),
        "transactions": (
            "id customer_id subscription_id status origin currency_code details billed_at "
            "created_at updated_at"
        ),
    },
    "crm": {
        "clients": "id name is_active address statement_key currency created_at updated_at",
        "contacts": (
            "id client title first_name last_name email phone_office phone_mobile fax created_at "
            "updated_at"
        ),
        "company": "base_uri full_domain name is_active week_start_day time_format currency",
    },
    "commerce": {
        "customers": (
            "id given_name family_name email_address phone_number version preferences created_at "
            "updated_at"
        ),
        "locations": "id name status timezone currency address created_at",
        "shifts": (
            "id employee_id location_id start_at end_at status wage version created_at updated_at"
        ),
    },
    "clinical": {
        "user": "id full_name email_address entity last_login",
        "study": "crf_id study_id name created_by live randomization_enabled version created_on",
        "audit_trial": (
            "uuid datetime event_type user_id user_email entity_id old_value new_value study_id"
        ),
    },
}
EXPECTED_FIELDS = {
    api: {stream: fields.split() for stream, fields in streams.items()}
    for api, streams in FIELDS.items()
}

PRIMARY_KEYS: dict[tuple[str, str], list[str]] = {
    ("billing", "event_types"): ["name"],
    ("billing", "ip_addresses"): [],
    ("crm", "company"): [],
    ("clinical", "study"): ["crf_id"],
    ("clinical", "audit_trial"): ["uuid"],
}

PARENT_BINDINGS: dict[tuple[str, str], str] = {
    ("payments", "funding_sources"): "cus_id",
    ("billing", "customer_addresses"): "cus_id",
    ("billing", "businesses"): "cus_id",
    ("clinical", "audit_trial"): "study_id",
}

TIMESTAMP_FIELDS = (
    "created created_at updated_at occurred_at billed_at next_billed_at start_at end_at "
    "last_login created_on datetime"
)
TIMESTAMPS = set(TIMESTAMP_FIELDS.split())

# (api, stream, path to a nested field, JSON type it must allow)
NESTED_FIELDS = [
    ("payments", "funding_sources", ["removed"], "boolean"),
    ("payments", "business_classifications", ["_embedded", "industry-classifications"], "array"),
    ("billing", "prices", ["unit_price", "amount"], "string"),
    ("billing", "prices", ["unit_price", "currency_code"], "string"),
    ("billing", "transactions", ["details", "totals", "total"], "string"),
    ("billing", "reports", ["rows"], "integer"),
    ("billing", "event_types", ["available_versions"], "array"),
    ("crm", "clients", ["id"], "integer"),
    ("crm", "contacts", ["client", "id"], "integer"),
    ("crm", "contacts", ["client", "name"], "string"),
    ("commerce", "customers", ["version"], "integer"),
    ("commerce", "customers", ["preferences", "email_unsubscribed"], "boolean"),
    ("commerce", "shifts", ["wage", "hourly_rate", "amount"], "integer"),
    ("commerce", "shifts", ["wage", "hourly_rate", "currency"], "string"),
    ("clinical", "study", ["study_id"], "string"),
    ("clinical", "study", ["version"], "string"),
    ("clinical", "audit_trial", ["study_id"], "string"),
]

STREAMS = [(api, stream) for api, streams in EXPECTED_FIELDS.items() for stream in streams]


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def load_schema(api: str, stream: str) -> dict[str, Any]:
    # One name per joinpath: Python 3.10's Traversable.joinpath takes a single child.
    text = files("tap_example.schemas").joinpath(api).joinpath(f"{stream}.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_every_schema_file_is_expected() -> None:
    root = files("tap_example.schemas")
    for api, streams in EXPECTED_FIELDS.items():
        found = {p.name[:-5] for p in root.joinpath(api).iterdir() if p.name.endswith(".json")}
        assert found == set(streams), api
        assert root.joinpath(api).joinpath("__init__.py").is_file()


@pytest.mark.parametrize(("api", "stream"), STREAMS)
def test_schema_is_valid_and_complete(api: str, stream: str) -> None:
    schema = load_schema(api, stream)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema.get("additionalProperties") is True
    assert "$schema" not in schema
    assert list(schema["properties"]) == EXPECTED_FIELDS[api][stream]


@pytest.mark.parametrize(("api", "stream"), STREAMS)
def test_timestamps_are_date_time(api: str, stream: str) -> None:
    properties = load_schema(api, stream)["properties"]
    for name in TIMESTAMPS & set(properties):
        assert properties[name].get("format") == "date-time", name
        assert "string" in _types(properties[name]), name


@pytest.mark.parametrize(("api", "stream"), STREAMS)
def test_nullability(api: str, stream: str) -> None:
    properties = load_schema(api, stream)["properties"]
    non_null = set(PRIMARY_KEYS.get((api, stream), ["id"]))
    if (api, stream) in PARENT_BINDINGS:
        non_null.add(PARENT_BINDINGS[(api, stream)])
    for name, prop in properties.items():
        if name in non_null:
            assert "null" not in _types(prop), name
        else:
            assert "null" in _types(prop), name


@pytest.mark.parametrize(("api", "stream", "path", "kind"), NESTED_FIELDS)
def test_field_types(api: str, stream: str, path: list[str], kind: str) -> None:
    prop = load_schema(api, stream)
    for name in path:
        prop = prop["properties"][name]
    assert kind in _types(prop)


def test_ids_outside_crm_are_strings() -> None:
    for api, stream in STREAMS:
        properties = load_schema(api, stream)["properties"]
        if api != "crm" and "id" in properties:
            assert _types(properties["id"]) == {"string"}, (api, stream)


def test_records_from_the_contract_validate() -> None:
    validator = jsonschema.Draft7Validator(load_schema("billing", "transactions"))
    record = {
        "id": "txn_01",
        "customer_id": "ctm_01",
        "subscription_id": None,
        "status": "billed",
        "origin": "api",
        "currency_code": "USD",
        "details": {"totals": {"total": "1000"}},
        "billed_at": None,
        "created_at": "2024-05-01T12:34:56Z",
        "updated_at": "2024-05-01T12:34:56.123Z",
        "drift": "extra fields are allowed",
    }
    validator.validate(record)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**record, "id": None})
