"""The five fake APIs of the built-in definitions, plus `lab` for user definitions, by name."""

from __future__ import annotations

from .base import FakeApi
from .billing import BillingApi
from .clinical import ClinicalApi
from .commerce import CommerceApi
from .crm import CrmApi
from .lab import LabApi
from .payments import PaymentsApi

FAKE_APIS: dict[str, type[FakeApi]] = {
    api.name: api for api in (PaymentsApi, BillingApi, CrmApi, CommerceApi, ClinicalApi)
}
#: The APIs with a built-in definition (``api`` setting).
API_NAMES = tuple(FAKE_APIS)
#: Fakes with no built-in definition: ``lab`` serves every paginator and auth type for
#: definitions users write themselves (``api_file``).
EXTRA_API_NAMES = (LabApi.name,)
FAKE_APIS[LabApi.name] = LabApi

__all__ = ["API_NAMES", "EXTRA_API_NAMES", "FAKE_APIS", "FakeApi"]
