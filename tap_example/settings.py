"""The tap's settings: their JSON Schema, as ``--about``, Meltano and the README show them.

``meltano.yml`` and ``tap-example.yml`` declare the same settings (a test keeps them equal), and
``python scripts/update_readme.py`` renders the README's settings table from this schema.
"""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th

from tap_example import __version__
from tap_example.definition import BUILTIN_APIS
from tap_example.engine.logs import METRICS_LOG_LEVEL_SETTING
from tap_example.engine.runtime import DEFAULT_MAX_PAGES

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "api",
        th.StringType,
        allowed_values=list(BUILTIN_APIS),
        title="Built-in API",
        description="Built-in definition to extract: "
        + ", ".join(BUILTIN_APIS)
        + ". Set this or api_file.",
    ),
    th.Property(
        "api_file",
        th.StringType,
        title="API definition file",
        description="Path to your own definition (YAML or JSON, dlt rest_api structure). Set this or api.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        title="Base URL",
        description="Overrides the definition's API base URL.",
    ),
    th.Property(
        "token_url",
        th.StringType,
        title="Token URL",
        description="Overrides the definition's OAuth2 token endpoint.",
    ),
    th.Property("client_id", th.StringType, title="Client ID", description="OAuth2 client ID."),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="Client secret",
        description="OAuth2 client secret.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="Refresh token",
        description="OAuth2 refresh token (refresh-token grant); a rotated token is followed within a run.",
    ),
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        title="API key",
        description="API key or static bearer token.",
    ),
    th.Property(
        "account_id",
        th.StringType,
        title="Account ID",
        description="Account identifier sent where the API needs one.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description="Earliest replication-key value to extract on the first run (RFC 3339).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        title="Max retries",
        description="Overrides the definition's retries per request.",
    ),
    th.Property(
        "backoff_factor",
        th.CustomType({"type": ["number", "string"]}),  # env vars arrive as strings
        title="Backoff factor",
        description="Overrides the definition's backoff: waits are backoff_factor * 2**n seconds.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=60,
        title="Request timeout",
        description="Seconds per request.",
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        title="Page size",
        description="Overrides the definition's page size where the API takes one.",
    ),
    th.Property(
        "max_pages_per_partition",
        th.IntegerType,
        default=DEFAULT_MAX_PAGES,
        title="Max pages per partition",
        description="Guard against runaway paging: a stream (or one parent's child requests) "
        "that needs more pages than this ends with an error.",
    ),
    th.Property(
        "shard",
        th.StringType,
        title="Shard",
        description="Split one run across n workers: 'i/n' (1 <= i <= n) takes the i-th share of "
        "the top-level streams and of the child partitions (by parent), so n jobs with their own "
        "state together extract every record of one full run exactly once.",
    ),
    th.Property(
        "schema_contract",
        th.StringType,
        allowed_values=["evolve", "freeze", "discard_value", "discard_row"],
        title="Schema contract",
        description="What happens to fields a stream's schema does not know and to values of "
        "another type (dlt's schema contract): evolve (default: add them to the schema, widen "
        "types, send the new SCHEMA), freeze (stop the run), discard_value (drop the field), "
        "discard_row (skip the record). Overrides the definition's schema_contract.",
    ),
    th.Property(
        "discover_sample_pages",
        th.IntegerType,
        default=0,
        title="Discovery sample pages",
        description="With --discover, read up to this many pages of each stream and add the "
        "fields seen to the catalog's schemas (so Meltano's select shows them).",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType,
        default=8,
        title="Max concurrency",
        description="Requests in flight at once, over all streams: child partitions, pages "
        "fetched ahead and concurrent streams share them.",
    ),
    th.Property(
        "max_parallel_streams",
        th.IntegerType,
        default=1,
        title="Max parallel streams",
        description="Top-level streams (each with its children) synced at once, sharing "
        "max_concurrency; above 1 their Singer messages interleave, each STATE safe to resume "
        "from. 1 (the default) syncs them one after another, as the SDK does.",
    ),
    th.Property(
        "max_requests_per_second",
        th.CustomType({"type": ["number", "string"]}),  # env vars arrive as strings
        title="Max requests per second",
        description="The API's rate limit, shared by every worker: requests are spaced at "
        "this rate (overrides the definition's client.rate_limit). Without it the tap learns "
        "the rate from the API's 429 answers.",
    ),
    th.Property(
        "token_store_dir",
        th.StringType,
        title="Token store directory",
        description="Where a rotated OAuth2 refresh token is kept for the next run (default: "
        "$XDG_STATE_HOME/tap-example/tokens or ~/.local/state/tap-example/tokens); "
        "'off' keeps none.",
    ),
    th.Property(
        "user_agent",
        th.StringType,
        title="User agent",
        description=f"User-Agent header sent on every request (default tap-example/{__version__}).",
    ),
    th.Property(
        "sandbox",
        th.BooleanType,
        default=False,
        title="Sandbox",
        description="Start the built-in fake of the chosen API on 127.0.0.1 in-process and extract from it; "
        "no credentials needed.",
    ),
    METRICS_LOG_LEVEL_SETTING,
).to_dict()
