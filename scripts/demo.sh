#!/usr/bin/env bash
# Installs syncd into .venv and runs the main job on the embedded default: a SQLite ledger, an
# emulated PrestaShop shop and a CSV till, with generated sales, for 30 seconds (then a summary).
# Run `.venv/bin/syncd demo` afterwards to keep it running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "syncd needs Python 3.11 or newer")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
.venv/bin/syncd check-config --config config.example.toml
.venv/bin/syncd demo --seconds "${SECONDS_TO_RUN:-30}"
