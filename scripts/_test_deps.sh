# Sourced by scripts/test after scripts/_venv.sh: what the browser and JavaScript client tests need
# besides Python packages. Whatever cannot be installed here, its tests skip and say why.

# The JavaScript fhirclient (tests/clients/js): npm ci when node_modules is missing or stale.
JS_DIR="$ROOT/tests/clients/js"
if command -v npm >/dev/null 2>&1; then
  JS_WANT="$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)"
  JS_STAMP="$JS_DIR/node_modules/.package-lock.sha"
  if [ ! -f "$JS_STAMP" ] || [ "$(cat "$JS_STAMP")" != "$JS_WANT" ]; then
    echo "== npm ci in tests/clients/js (JavaScript fhirclient test)" >&2
    if (cd "$JS_DIR" && npm ci --legacy-peer-deps --ignore-scripts --no-audit --no-fund --silent); then
      echo "$JS_WANT" > "$JS_STAMP"
    else
      echo "   npm ci failed: the JavaScript client test will skip" >&2
    fi
  fi
fi

# Debian's chromium (browser tests), through apt-get when this user may install packages.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${SMART_TEST_NO_APT:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    AS_ROOT=(env)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    AS_ROOT=(sudo -n env)
  else
    AS_ROOT=()
  fi
  if [ "${#AS_ROOT[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== apt-get install chromium (browser tests)" >&2
    if ! ("${AS_ROOT[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -qq \
          && "${AS_ROOT[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; then
      echo "   could not install chromium: the browser tests will skip" >&2
    fi
  else
    echo "== chromium is missing and cannot be installed here (needs apt-get as root or sudo):" \
         "the browser tests will skip" >&2
  fi
fi
