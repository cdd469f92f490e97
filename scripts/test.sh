#!/usr/bin/env bash
# Runs the whole test suite (unit, emulator-vs-recordings, end-to-end through Dify's stdio protocol).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec "$PY" -m pytest "$@"
