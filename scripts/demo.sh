#!/usr/bin/env bash
# The main job: drives the plugin through Dify's stdio protocol against the bundled GigaChat
# emulator, or against real GigaChat when GIGACHAT_AUTHORIZATION_KEY is set (with GIGACHAT_SCOPE,
# GIGACHAT_CA_FILE and optionally GIGACHAT_BASE_URL / GIGACHAT_AUTH_URL). Options: --out DIR
# (where generated images are saved; default demo-out/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/real_account.sh"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export_real_account
exec "$PY" demo.py "$@"
