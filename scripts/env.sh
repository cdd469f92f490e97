# Sourced by the project's commands: finds Python 3.12, creates .venv, installs dev requirements.
# Idempotent: re-installs only when a requirements file changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python312() {
  local c
  # 1) a real python3.12 on PATH (the pyenv shim fails without PYENV_VERSION, so test it runs)
  if command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys; assert sys.version_info[:2]==(3,12)' >/dev/null 2>&1; then
    command -v python3.12; return 0
  fi
  # 2) pyenv's versions folder
  local roots=()
  command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)/versions")
  roots+=("${PYENV_ROOT:-$HOME/.pyenv}/versions" /root/.pyenv/versions /usr/local/bin /usr/bin)
  for r in "${roots[@]}"; do
    for c in "$r"/3.12*/bin/python3.12 "$r"/python3.12; do
      if [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2]==(3,12)' >/dev/null 2>&1; then
        echo "$c"; return 0
      fi
    done
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2]==(3,12)' >/dev/null 2>&1; then
  PY312="$(find_python312)" || {
    echo "ERROR: Python 3.12 is required (dify_plugin>=0.10 needs it) and none was found." >&2
    echo "       Install it (e.g. 'pyenv install 3.12') or put python3.12 on PATH, then re-run." >&2
    exit 1
  }
  echo "==> creating .venv with $PY312" >&2
  rm -rf "$VENV"
  "$PY312" -m venv "$VENV"
fi

STAMP="$VENV/.requirements.sha256"
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  echo "==> installing requirements into .venv" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$VENV/bin/python" -c "import dify_plugin, gigachat, pproxy" || { echo "ERROR: installing requirements failed" >&2; exit 1; }
  echo "$WANT" > "$STAMP"
fi
PY="$VENV/bin/python"
# The SDK reads GIGACHAT_* variables into every client it builds: never let the caller's leak in.
for v in $(env | grep -o '^GIGACHAT_[A-Z_]*' || true); do unset "$v"; done
export PY ROOT
