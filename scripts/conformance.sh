#!/usr/bin/env bash
# Conformance: checks the facts the plugin relies on against a real GigaChat account when
# GIGACHAT_AUTHORIZATION_KEY is set (and GIGACHAT_SCOPE, GIGACHAT_CA_FILE, optionally
# GIGACHAT_BASE_URL / GIGACHAT_AUTH_URL), else against the bundled emulator. With a key it prints
# the token budget and spends it only with --yes. Writes redacted cassettes to conformance-out/.
set -euo pipefail
GIGACHAT_DEMO_KEY="${GIGACHAT_AUTHORIZATION_KEY:-}"
GIGACHAT_DEMO_SCOPE="${GIGACHAT_SCOPE:-}"
GIGACHAT_DEMO_CA="${GIGACHAT_CA_FILE:-}"
GIGACHAT_DEMO_BASE_URL="${GIGACHAT_BASE_URL:-}"
GIGACHAT_DEMO_AUTH_URL="${GIGACHAT_AUTH_URL:-}"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export GIGACHAT_DEMO_KEY GIGACHAT_DEMO_SCOPE GIGACHAT_DEMO_CA GIGACHAT_DEMO_BASE_URL GIGACHAT_DEMO_AUTH_URL
exec "$PY" scripts/conformance.py "$@"
