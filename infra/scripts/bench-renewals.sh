#!/usr/bin/env bash
# `make bench-renewals`: counts the AWS and Stripe calls of one renewal, times it in-process and
# prices it per 1,000,000 renewals; writes docs/renewal-cost.md and the section in docs/benchmarks.md.
# Then the same with one recurring item per subscription: docs/renewal-items-cost.md and its section.
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
RUST_LOG=warn cargo run --quiet -p local-stack --bin renewal-bench -- "$root"
BENCH_ITEMS=1 RUST_LOG=warn cargo run --quiet -p local-stack --bin renewal-bench -- "$root"
BENCH_PLAN=plan_words_100k_month RUST_LOG=warn cargo run --quiet -p local-stack --bin renewal-bench -- "$root"
