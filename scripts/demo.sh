#!/usr/bin/env bash
# The main job: drives the plugin through Dify's stdio protocol against the bundled GigaChat
# emulator, or against real GigaChat when GIGACHAT_AUTHORIZATION_KEY is set (with GIGACHAT_SCOPE,
# GIGACHAT_CA_FILE and optionally GIGACHAT_BASE_URL / GIGACHAT_AUTH_URL). Options: --out DIR
# (where generated images are saved; default demo-out/).
set -euo pipefail
GIGACHAT_DEMO_KEY="${GIGACHAT_AUTHORIZATION_KEY:-}"
GIGACHAT_DEMO_SCOPE="${GIGACHAT_SCOPE:-}"
GIGACHAT_DEMO_CA="${GIGACHAT_CA_FILE:-}"
GIGACHAT_DEMO_BASE_URL="${GIGACHAT_BASE_URL:-}"
GIGACHAT_DEMO_AUTH_URL="${GIGACHAT_AUTH_URL:-}"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export GIGACHAT_DEMO_KEY GIGACHAT_DEMO_SCOPE GIGACHAT_DEMO_CA GIGACHAT_DEMO_BASE_URL GIGACHAT_DEMO_AUTH_URL
exec "$PY" demo.py "$@"
