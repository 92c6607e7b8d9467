#!/usr/bin/env bash
# `make bench`: release builds of every function, then infra/local-stack/src/bin/bench.rs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source infra/scripts/env.sh
export RUST_LOG=warn
started=""
cleanup() { [ -n "$started" ] && infra/scripts/emulator.sh stop || true; }
trap cleanup EXIT
if ! curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" 2>/dev/null; then
  infra/scripts/emulator.sh start
  started=yes
fi
cargo build --release --bins -p subscriptions-api -p customers-api -p plans-api -p invoices-api \
  -p meta-api -p webhooks-api -p stripe-webhooks -p scheduler -p renewal-worker -p event-relay \
  -p notifier -p webhook-dispatcher -p local-stack
"${CARGO_TARGET_DIR:-target}/release/bench" "${CARGO_TARGET_DIR:-target}/release" "$root"
# The pre-order's DynamoDB calls (debug build: the counts, not the times, are what it measures).
RUST_LOG=warn cargo run --quiet -p local-stack --bin preorder-bench -- "$root"
# A usage record's DynamoDB calls (the same way).
RUST_LOG=warn cargo run --quiet -p local-stack --bin usage-bench -- "$root"
