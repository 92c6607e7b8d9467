#!/usr/bin/env bash
# Fuzzes the served API with schemathesis against its own OpenAPI document: no 5xx on any
# generated input, and every answer within the documented statuses, content types and schemas.
# Starts a local stack on its own port and table; expects the emulator to be up.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BILLING_VENV:-$root/.venv}"
port="${SCHEMATHESIS_PORT:-3100}"
base="http://127.0.0.1:$port"
source "$root/infra/scripts/stack.sh"
start_stack schemathesis "$port" "${SCHEMATHESIS_STRIPE_PORT:-12112}" TEST_CLOCK=0
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
