"""API definitions: the typed model (:mod:`.model`) and the loader that builds it (:mod:`.load`).

Nothing in this package imports the engine, the SDK or the network.
"""

from tap_example.definition.load import (
    BUILTIN_APIS,
    auth_specs,
    build_definition,
    format_schema,
    load_definition,
    paginator_spec,
)
from tap_example.definition.model import (
    AUTH_SPECS,
    PAGINATOR_SPECS,
    APIKeyAuthSpec,
    AuthSpec,
    AutoSpec,
    BearerAuthSpec,
    CursorSpec,
    Definition,
    ErrorHandler,
    HeaderLinkSpec,
    HTTPBasicAuthSpec,
    Incremental,
    JSONLinkSpec,
    OAuth2AuthSpec,
    OffsetSpec,
    PageNumberSpec,
    PaginatorSpec,
    ParentBinding,
    RateLimit,
    Resource,
    SinglePageSpec,
)
from tap_example.definition.placeholders import (
    fill_placeholders,
    fill_spec,
    missing_placeholders,
    placeholder_names,
)
from tap_example.definition.stop_condition import StopCondition, parse_stop_condition

__all__ = [
    "AUTH_SPECS",
    "BUILTIN_APIS",
    "PAGINATOR_SPECS",
    "APIKeyAuthSpec",
    "AuthSpec",
    "AutoSpec",
    "BearerAuthSpec",
    "CursorSpec",
    "Definition",
    "ErrorHandler",
    "HTTPBasicAuthSpec",
    "HeaderLinkSpec",
    "Incremental",
    "JSONLinkSpec",
    "OAuth2AuthSpec",
    "OffsetSpec",
    "PageNumberSpec",
    "PaginatorSpec",
    "ParentBinding",
    "RateLimit",
    "Resource",
    "SinglePageSpec",
    "StopCondition",
    "auth_specs",
    "build_definition",
    "fill_placeholders",
    "fill_spec",
    "format_schema",
    "load_definition",
    "missing_placeholders",
    "paginator_spec",
    "parse_stop_condition",
    "placeholder_names",
]
