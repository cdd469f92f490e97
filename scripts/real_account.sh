# Sourced by the commands that may use a real GigaChat account (demo.sh, conformance.sh), BEFORE
# env.sh, which clears every GIGACHAT_* variable of the environment (the SDK would read them).
# Keeps the account's settings under the GIGACHAT_DEMO_* names demo.py reads; call
# export_real_account after env.sh to hand them on.
GIGACHAT_DEMO_KEY="${GIGACHAT_AUTHORIZATION_KEY:-}"
GIGACHAT_DEMO_SCOPE="${GIGACHAT_SCOPE:-}"
GIGACHAT_DEMO_CA="${GIGACHAT_CA_FILE:-}"
GIGACHAT_DEMO_BASE_URL="${GIGACHAT_BASE_URL:-}"
GIGACHAT_DEMO_AUTH_URL="${GIGACHAT_AUTH_URL:-}"
export_real_account() {
  export GIGACHAT_DEMO_KEY GIGACHAT_DEMO_SCOPE GIGACHAT_DEMO_CA GIGACHAT_DEMO_BASE_URL GIGACHAT_DEMO_AUTH_URL
}
