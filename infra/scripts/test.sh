#!/usr/bin/env bash
# `make test`: formatting, lints, the template, every Rust test (unit, property, end to end
# against the emulator), the README's billing walk-through against the local stack's binary,
# schemathesis against the served OpenAPI document, redocly lint of that document and a client
# generated from it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
source infra/scripts/env.sh
started=""
cleanup() { [ -n "$started" ] && infra/scripts/emulator.sh stop || true; }
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }

step "python tools (.venv)"
infra/scripts/venv.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

step "emulator"
if ! curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/moto-api/" 2>/dev/null; then
  infra/scripts/emulator.sh start
  started=yes
fi

step "cargo test --workspace"
mkdir -p .local
cargo test --workspace --all-targets 2>&1 | tee .local/cargo-test.log

step "the README's walk-through against the local stack's own binary"
infra/scripts/walkthrough.sh 2>&1 | tee .local/walkthrough.log

step "schemathesis"
infra/scripts/schemathesis.sh 2>&1 | tee .local/schemathesis.log

step "OpenAPI: redocly lint, a generated client has every operation"
infra/scripts/openapi-check.sh 2>&1 | tee .local/openapi-check.log

# One closing line for the whole run: every Rust test, summed over the test binaries.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nsummary: %d passed, %d failed\n", p, f }' .local/cargo-test.log
