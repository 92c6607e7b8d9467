#!/usr/bin/env bash
# `make bench-usage`: counts the DynamoDB calls of recording usage and prices them; writes
# docs/usage-cost.md and the section in docs/benchmarks.md. `make bench` runs it too.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source infra/scripts/env.sh
started=""
if ! curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" 2>/dev/null; then
  infra/scripts/emulator.sh start
  started=yes
fi
trap '[ -n "$started" ] && infra/scripts/emulator.sh stop || true' EXIT
RUST_LOG=warn cargo run --quiet -p local-stack --bin usage-bench -- "$root"
