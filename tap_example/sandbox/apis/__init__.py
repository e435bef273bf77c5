"""The five fake APIs, one module each, selected by name."""

from __future__ import annotations

from .base import FakeApi
from .billing import BillingApi
from .clinical import ClinicalApi
from .commerce import CommerceApi
from .crm import CrmApi
from .payments import PaymentsApi

FAKE_APIS: dict[str, type[FakeApi]] = {
    api.name: api for api in (PaymentsApi, BillingApi, CrmApi, CommerceApi, ClinicalApi)
}
API_NAMES = tuple(FAKE_APIS)

__all__ = ["API_NAMES", "FAKE_APIS", "FakeApi"]
