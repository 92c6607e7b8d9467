#!/usr/bin/env bash
# The OpenAPI document the API serves: redocly's recommended rules pass, and a client generated
# from it (openapi-python-client) has every operation. Node tools come from infra/tools (npm ci);
# Python ones from .venv (infra/scripts/venv.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BILLING_VENV:-$root/.venv}"
state="$root/.local"
tools="$root/infra/tools"
mkdir -p "$state"

# The same build as schemathesis.sh (a no-op after it): the `openapi` binary prints the document.
cargo build --quiet -p local-stack -p stripe-sim --bins
"${CARGO_TARGET_DIR:-$root/target}/debug/openapi" > "$state/openapi.json"

lock_sha="$(sha256sum "$tools/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$tools/node_modules/.lock.sha" 2>/dev/null)" != "$lock_sha" ]; then
  npm ci --prefix "$tools" --no-audit --no-fund --silent
  echo "$lock_sha" > "$tools/node_modules/.lock.sha"
fi
(cd "$tools" && npx --no-install redocly lint "$state/openapi.json" --config redocly.yaml --format=summary)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$venv/bin/python" "$root/infra/scripts/openapi_client_check.py" "$state/openapi.json" "$work"
