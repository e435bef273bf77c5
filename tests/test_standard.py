"""The SDK's standard tap and stream tests, once per built-in API, against a sandbox server."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from tap_example.tap import TapExample
from tests.conftest import FAST, shared_sandbox

TestPayments = get_tap_test_class(
    TapExample, config={**shared_sandbox("payments").tap_config(), **FAST}
)
TestBilling = get_tap_test_class(
    TapExample, config={**shared_sandbox("billing").tap_config(), **FAST}
)
TestCrm = get_tap_test_class(TapExample, config={**shared_sandbox("crm").tap_config(), **FAST})
TestCommerce = get_tap_test_class(
    TapExample, config={**shared_sandbox("commerce").tap_config(), **FAST}
)
TestClinical = get_tap_test_class(
    TapExample, config={**shared_sandbox("clinical").tap_config(), **FAST}
)
