#!/usr/bin/env bash
# Fuzzes the served API with schemathesis against its own OpenAPI document: no 5xx on any
# generated input, and every answer within the documented statuses, content types and schemas.
# Starts a local stack on its own port and table; expects the emulator to be up.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BILLING_VENV:-$root/.venv}"
state="$root/.local"
port="${SCHEMATHESIS_PORT:-3100}"
base="http://127.0.0.1:$port"
mkdir -p "$state"

cargo build --quiet -p local-stack -p stripe-sim --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
sim_port="${SCHEMATHESIS_STRIPE_PORT:-12112}"
STRIPE_SIM_ADDR="127.0.0.1:$sim_port" STRIPE_WEBHOOK_URL="" \
  "$bin/stripe-sim" > "$state/schemathesis-stripe.log" 2>&1 &
sim=$!
run="schemathesis-$(date +%s)-$$"
TABLE_NAME="$run" RENEWAL_QUEUE_URL="" RENEWAL_QUEUE_NAME="$run" TEST_CLOCK=0 \
  STRIPE_API_BASE="http://127.0.0.1:$sim_port" LOCAL_GATEWAY_ADDR="127.0.0.1:$port" RUST_LOG=warn \
  "$bin/local-stack" > "$state/schemathesis-stack.log" 2>&1 &
stack=$!
trap 'kill $stack $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/api/v1/health" 2>/dev/null && break
  sleep 0.2
done
token="$("$bin/mint-token" admin)"

"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --seed "${SCHEMATHESIS_SEED:-20261123}" \
  --workers 2 \
  --generation-deterministic \
  --warnings off
