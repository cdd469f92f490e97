#!/usr/bin/env bash
# Drives the plugin through Dify's stdio protocol as Dify's plugin daemon does: validation, a
# streamed chat answer, web search, image generation, embeddings.
#   - No GIGACHAT_AUTHORIZATION_KEY: against the bundled GigaChat emulator on loopback; nothing is
#     spent (other GIGACHAT_* settings given without a key are reported as unused).
#   - With GIGACHAT_AUTHORIZATION_KEY (and GIGACHAT_SCOPE, GIGACHAT_CA_FILE: the CA's PEM file;
#     optionally GIGACHAT_BASE_URL, and GIGACHAT_AUTH_URL, the OAuth URL): against that GigaChat.
#     It prints the tokens each step would spend and sends nothing; --yes spends them.
#   - A proxy comes from the environment, as Dify's daemon passes it: HTTPS_PROXY (and NO_PROXY).
# Options: --yes; --out DIR (where generated images are saved; default demo-out/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/real_account.sh"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export_real_account
exec "$PY" demo.py "$@"
