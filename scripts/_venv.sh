# Sourced by scripts/sandbox and scripts/test: make .venv and install requirements.txt when missing
# or when requirements.txt / pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMART_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha"
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  (cd "$ROOT" && "$VENV/bin/python" -m pip install -q -r requirements.txt)
  echo "$WANT" > "$STAMP"
fi
cd "$ROOT"
