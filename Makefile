# The two commands: `make dev` (run the local stack) and `make test` (run every test).
.PHONY: dev test bench bench-renewals emulator-up emulator-down token lint

dev:
	infra/scripts/dev.sh

test:
	infra/scripts/test.sh

bench:
	infra/scripts/bench.sh

# What one renewal costs: AWS and Stripe calls counted, priced per million renewals.
bench-renewals:
	infra/scripts/bench-renewals.sh

emulator-up:
	infra/scripts/emulator.sh start

emulator-down:
	infra/scripts/emulator.sh stop

token:
	@cargo run --quiet -p local-stack --bin mint-token -- $(or $(ROLE),admin) $(CUSTOMER)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
