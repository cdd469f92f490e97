#!/usr/bin/env bash
# The main job: drives the plugin through Dify's stdio protocol against the bundled GigaChat
# emulator (or real GigaChat when GIGACHAT_AUTHORIZATION_KEY is set).
set -euo pipefail
GIGACHAT_DEMO_KEY="${GIGACHAT_AUTHORIZATION_KEY:-}"
GIGACHAT_DEMO_SCOPE="${GIGACHAT_SCOPE:-}"
GIGACHAT_DEMO_CA="${GIGACHAT_CA_FILE:-}"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export GIGACHAT_DEMO_KEY GIGACHAT_DEMO_SCOPE GIGACHAT_DEMO_CA
exec "$PY" demo.py "$@"
