#!/usr/bin/env bash
# Builds dist/gigachat-<version>.difypkg as `dify plugin package` would (see scripts/package.py).
# Sets itself up on a fresh machine first (Python 3.12, .venv): options go to scripts/package.py,
# e.g. `bash scripts/package.sh --out /tmp/pkg --list`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
exec "$PY" scripts/package.py "$@"
