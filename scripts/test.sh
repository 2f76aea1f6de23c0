#!/usr/bin/env bash
# Installs syncd and its test tools into .venv, then runs lint, types and every test.
# Needs Python >= 3.11; PostgreSQL is used at $SYNCD_TEST_DSN, else 127.0.0.1:5432, else a
# throwaway cluster is started from the installed PostgreSQL binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "syncd needs Python 3.11 or newer")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# The status page is tested in a real headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the status page browser test" >&2
    (apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; })
  else
    echo "missing: chromium (the status page test needs it): run 'sudo apt-get install -y chromium'" >&2
    exit 1
  fi
fi
.venv/bin/ruff check syncd tests bench
.venv/bin/ruff format --check syncd tests bench
.venv/bin/mypy syncd
.venv/bin/lint-imports --no-logo  # the layers, the pure core and no cycles: [tool.importlinter]
# The manual (docs/), French and English: any warning (a broken link, a config key or command the
# code has and the manual does not describe) fails the build.
manual="$(mktemp -d)"
if ! NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict -d "$manual/site" >"$manual/log" 2>&1; then
  grep -v '^INFO' "$manual/log" >&2; rm -rf "$manual"; exit 1
fi
rm -rf "$manual"
.venv/bin/pytest -q -rs "$@"
