#!/usr/bin/env bash
# Meltano + DuckDB demo of tap-example, in one command:
#
#   scripts/demo.sh                      # the payments API
#   TAP_EXAMPLE_API=crm scripts/demo.sh  # any of: payments billing crm commerce clinical
#
# What it does (safe to run again; works from any directory):
#   1. creates .venv in the project root if it is missing, with a Python 3.10-3.13
#      (override with PYTHON=/path/to/python3.x);
#   2. installs the project into it (pip install -e '.[dev]') plus Meltano 4;
#   3. `meltano install`: the extractor (this project) and the loader
#      (target-duckdb + the lossless fix in plugins/target-duckdb-lossless),
#      both declared inline in meltano.yml, so Meltano Hub is never contacted;
#   4. `meltano run tap-example target-duckdb` against the tap's built-in sandbox
#      (`sandbox: true`: an in-process fake of the API on 127.0.0.1, fixed seed),
#      loading into output/warehouse.duckdb, schema "$TAP_EXAMPLE_API";
#   5. prints the tables and row counts read back from that file.
#
# TAP_EXAMPLE_API is Meltano's environment variable for the extractor's `api`
# setting, so it selects the API and (via $MELTANO_EXTRACT_API in meltano.yml)
# the schema the loader writes to. Each API has its own schema in the same file;
# a rerun replaces that API's schema (full refresh) and leaves the others alone.
# Afterwards, explore with e.g.:
#   .venv/bin/python -c "import duckdb; print(duckdb.connect('output/warehouse.duckdb').sql('SHOW ALL TABLES'))"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

APIS="payments billing crm commerce clinical"
export TAP_EXAMPLE_API="${TAP_EXAMPLE_API:-payments}"
case " $APIS " in
  *" $TAP_EXAMPLE_API "*) ;;
  *) echo "error: TAP_EXAMPLE_API='$TAP_EXAMPLE_API' is not one of: $APIS" >&2; exit 2 ;;
esac

# shellcheck source=scripts/venv.sh
source "$ROOT/scripts/venv.sh"
DB="$ROOT/output/warehouse.duckdb"

# Meltano: no usage tracking, no "newer version" check.
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_CLI_DISABLE_VERSION_CHECK=true

step "project: $ROOT    API: $TAP_EXAMPLE_API"

ensure_venv

step "installing the project (pip install -e '.[dev]') and $MELTANO_SPEC into .venv"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]' "$MELTANO_SPEC"

MELTANO="$VENV/bin/meltano"
step "$("$MELTANO" --version)"

step "meltano install (plugins declared inline in meltano.yml)"
"$MELTANO" install

mkdir -p "$(dirname "$DB")"
if [ -f "$DB" ]; then
  step "dropping schema \"$TAP_EXAMPLE_API\" from $DB (if present), so the rerun starts clean"
  "$VENV/bin/python" - "$DB" "$TAP_EXAMPLE_API" <<'PY'
import sys

import duckdb

database, schema = sys.argv[1:]
con = duckdb.connect(database)
con.execute('DROP SCHEMA IF EXISTS "{}" CASCADE'.format(schema.replace('"', '""')))
con.close()
PY
fi

step "meltano run --full-refresh tap-example target-duckdb   (sandbox, API $TAP_EXAMPLE_API)"
"$MELTANO" run --full-refresh tap-example target-duckdb

step "tables loaded into $DB"
"$VENV/bin/python" "$ROOT/scripts/duckdb_summary.py" "$DB" --schema "$TAP_EXAMPLE_API"
