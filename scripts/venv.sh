# Shared by scripts/demo.sh and scripts/test.sh: find a supported Python and make .venv.
# shellcheck shell=bash

VENV="${VENV:-$ROOT/.venv}"
MELTANO_SPEC='meltano>=4.0,<5'
export PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n==> %s\n' "$*"; }

python_ok() {  # is "$1" a Python the project supports (3.10 <= version < 3.14)?
  "$1" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 14)))' 2>/dev/null
}

find_python() {
  local candidate
  for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10 python; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && python_ok "$VENV/bin/python"; then
    step "using virtualenv $VENV ($("$VENV/bin/python" --version))"
    return 0
  fi
  if [ -e "$VENV" ]; then
    echo "error: $VENV exists but has no usable Python 3.10-3.13; remove it and rerun" >&2
    exit 1
  fi
  local py
  if ! py="$(find_python)"; then
    echo "error: no Python 3.10-3.13 found (set PYTHON=/path/to/python3.x)" >&2
    exit 1
  fi
  step "creating virtualenv $VENV with $py ($("$py" --version))"
  "$py" -m venv "$VENV"
}
