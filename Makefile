# The two commands: `make dev` (run the local stack) and `make test` (run every test).
.PHONY: dev test bench bench-renewals bench-preorders bench-usage emulator-up emulator-down token lint mail webhook-receiver bounce

dev:
	infra/scripts/dev.sh

test:
	infra/scripts/test.sh

bench:
	infra/scripts/bench.sh

# What one renewal costs: AWS and Stripe calls counted, priced per million renewals.
bench-renewals:
	infra/scripts/bench-renewals.sh

# What placing a pre-order costs: DynamoDB calls counted, priced per million pre-orders.
bench-preorders:
	infra/scripts/bench-preorders.sh

# What recording usage costs: DynamoDB calls counted, priced per million usage records.
bench-usage:
	infra/scripts/bench-usage.sh

emulator-up:
	infra/scripts/emulator.sh start

emulator-down:
	infra/scripts/emulator.sh stop

token:
	@cargo run --quiet -p local-stack --bin mint-token -- $(or $(ROLE),admin) $(CUSTOMER)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# The email the local stack sent (the emulator's SES store): recipients and subject, oldest first.
mail:
	@curl -s $${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}/_local/ses/messages | python3 -c 'import json,sys; [print(", ".join(m["destinations"].get("ToAddresses", [])), "|", m["subject"]) for m in json.load(sys.stdin)]'

# Reports a bounce of email to $(TO) as SES does (KIND=complaint for a complaint; CUSTOMER=cus_...
# names whose email it was).
bounce:
	@CUSTOMER=$(CUSTOMER) .venv/bin/python infra/scripts/ses_bounce.py $(TO)

# A local webhook receiver on 127.0.0.1:$(PORT) (default 9000) that prints each delivery.
webhook-receiver:
	python3 infra/scripts/webhook_receiver.py
