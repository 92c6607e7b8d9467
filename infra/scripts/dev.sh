#!/usr/bin/env bash
# `make dev`: the emulator, the table and seed data, and the local gateway on :3000, in the
# foreground. Ctrl-C stops everything it started.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source infra/scripts/env.sh
started=""
sim=""
cleanup() {
  [ -n "$sim" ] && kill "$sim" 2>/dev/null
  [ -n "$started" ] && infra/scripts/emulator.sh stop || true
}
trap cleanup EXIT INT TERM
if ! curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" 2>/dev/null; then
  infra/scripts/emulator.sh start
  started=yes
fi
cargo build --quiet -p local-stack -p stripe-sim --bins
mkdir -p .local
target/debug/stripe-sim > .local/stripe-sim.log 2>&1 &
sim=$!
cat <<MSG

  API:    http://$LOCAL_GATEWAY_ADDR/api/v1/health
  Stripe simulator: $STRIPE_API_BASE (log in .local/stripe-sim.log)
  Token:  export TOKEN=\$(target/debug/mint-token admin)

MSG
target/debug/local-stack
