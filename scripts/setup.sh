#!/usr/bin/env bash
# Sets up the development environment and nothing else: finds Python 3.12, creates .venv and
# installs requirements-dev.txt (what test.sh and demo.sh do before they run). For running the
# plugin yourself, e.g. against a remote Dify (README, "Remote debugging against a real Dify").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
echo "Ready: $PY (Python $("$PY" -c 'import platform; print(platform.python_version())'))."
echo "Run the plugin with: .venv/bin/python -m main   (remote debugging reads .env beside main.py)"
