"""The SDK's standard tap and stream tests, once per built-in API, against a sandbox server.

The standard tests check each record against the catalog found by discovery (a fresh tap's
schema). The sandbox, like the real APIs, sends fields no schema declares (``metadata``,
``_sandbox_rev``); under the default schema contract (``evolve``) the tap keeps them and sends a
new SCHEMA first, which those checks cannot see. So these tests run under ``discard_value``, the
contract that promises records match the catalog; ``tests/test_schema_contract.py`` checks the
default: every record matches the last SCHEMA its stream sent.
"""

from __future__ import annotations

from typing import Any

from singer_sdk.testing import get_tap_test_class

from tap_example.tap import TapExample
from tests.conftest import FAST, shared_sandbox


def config(api: str) -> dict[str, Any]:
    return {**shared_sandbox(api).tap_config(), **FAST, "schema_contract": "discard_value"}


TestPayments = get_tap_test_class(TapExample, config=config("payments"))
TestBilling = get_tap_test_class(TapExample, config=config("billing"))
TestCrm = get_tap_test_class(TapExample, config=config("crm"))
TestCommerce = get_tap_test_class(TapExample, config=config("commerce"))
TestClinical = get_tap_test_class(TapExample, config=config("clinical"))
