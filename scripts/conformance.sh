#!/usr/bin/env bash
# Conformance: checks the facts the plugin relies on against a real GigaChat account when
# GIGACHAT_AUTHORIZATION_KEY is set (and GIGACHAT_SCOPE, GIGACHAT_CA_FILE, optionally
# GIGACHAT_BASE_URL / GIGACHAT_AUTH_URL), else against the bundled emulator. With a key it prints
# the token budget and spends it only with --yes. Writes redacted cassettes to conformance-out/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/real_account.sh"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export_real_account
exec "$PY" scripts/conformance.py "$@"
