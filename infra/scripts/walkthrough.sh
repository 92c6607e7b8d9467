#!/usr/bin/env bash
# The README's billing walk-through, run against the binary `make dev` runs (not the tests' own
# wiring): a customer subscribes to Premium monthly, the test clock moves a month and a day, and
# the renewal must have run through the scheduler, the queue and the worker (two paid invoices),
# with the receipts mailed through the emulator's SES. Starts a local stack on its own port,
# table, queues and bus; expects the emulator to be up.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/infra/scripts/env.sh"
port="${WALKTHROUGH_PORT:-3200}"
api="http://127.0.0.1:$port/api/v1"
source "$root/infra/scripts/stack.sh"
start_stack walkthrough "$port" "${WALKTHROUGH_STRIPE_PORT:-12113}" TEST_CLOCK=1 TICK_SECONDS=3600
token="$("$bin/mint-token" admin)"

# `call METHOD PATH [BODY]`: the answer's body; a status other than 2xx fails the run.
call() {
  local out status
  out="$(curl -sS -w '\n%{http_code}' -X "$1" "$api$2" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' ${3:+-d "$3"})"
  status="${out##*$'\n'}"
  if [ "${status:0:1}" != 2 ]; then
    echo "walkthrough: $1 $2 answered $status: ${out%$'\n'*}" >&2
    exit 1
  fi
  printf '%s' "${out%$'\n'*}"
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

email="ap-$(date +%s)-$$@acme.example"
customer="$(call POST /customers "{\"name\": \"Acme Wholesale\", \"email\": \"$email\"}" | field id)"
subscription="$(call POST /subscriptions "{\"customer_id\": \"$customer\", \"subscription_plan_id\": \"plan_premium_month\", \"payment_method_id\": \"pm_card_visa\"}" | field id)"
# A month and a day: the renewal falls due on the way.
call POST /test-clock/advance '{"by_seconds": 2764800}' > /dev/null

paid="$(call GET "/subscriptions/$subscription/invoices?limit=100" |
  python3 -c 'import json,sys; print(sum(1 for i in json.load(sys.stdin)["data"] if i["status"] == "paid" and i["total"] == "79.99"))')"
receipts="$(curl -sS "$AWS_ENDPOINT_URL/_local/ses/messages" |
  python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if sys.argv[1] in m["destinations"].get("ToAddresses", []) and "receipt" in m["subject"].lower()))' "$email")"
echo "walkthrough: $paid paid invoices of 79.99, $receipts receipts mailed"
if [ "$paid" != 2 ] || [ "$receipts" != 2 ]; then
  echo "walkthrough: expected 2 paid invoices and 2 receipts (see $stack_log)" >&2
  exit 1
fi

# Products, pre-orders and boxes, as the README shows them.
product="$(call POST /products '{"sku": "GIZMO-'"$$"'", "name": "Gizmo", "price": "19.99", "currency": "usd", "backorders_allowed": true, "preorder": {"eligible": true, "opens_at": "2026-01-01T00:00:00Z", "closes_at": "2030-01-01T00:00:00Z", "release_at": "2030-02-01T00:00:00Z"}}' | field id)"
call POST "/products/$product/stock" '{"type": "receipt", "quantity": 10, "reference": "PO-1"}' > /dev/null
total="$(call POST "/subscriptions/$subscription/pre-orders" "{\"product_id\": \"$product\", \"quantity\": 3}" | field total)"
used="$(call GET "/subscriptions/$subscription/usage" | field current_preorder_value)"
items="$(call PUT "/subscriptions/$subscription/items" "{\"items\": [{\"product_id\": \"$product\", \"quantity\": 1}]}" | field items)"
echo "walkthrough: pre-order total $total, month's value $used, items $items"
if [ "$total" != 56.97 ] || [ "$used" != 56.97 ] || [ "$items" = "[]" ]; then
  echo "walkthrough: expected a pre-order of 56.97 counted in the month, and the box's item (see $stack_log)" >&2
  exit 1
fi

# Metered allowances, as the README shows them: 1,000 pages a month with 100 promotional pages.
pages="$(call POST /subscriptions "{\"customer_id\": \"$customer\", \"subscription_plan_id\": \"plan_pages_1000_month\", \"payment_method_id\": \"pm_card_visa\"}" | field id)"
call POST "/subscriptions/$pages/unit-grants" '{"unit": "pages", "units": 100, "expires_at": "2099-01-01T00:00:00Z", "description": "welcome"}' > /dev/null
breakdown="$(curl -sS -X POST "$api/subscriptions/$pages/usage-records" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: job-42' -d '{"unit": "pages", "units": 150}' |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["breakdown"]["promotional"], r["breakdown"]["included"], r["remaining"])')"
remaining="$(call GET "/subscriptions/$pages/entitlements/pages" | field remaining)"
echo "walkthrough: 150 pages taken as (promotional included remaining) $breakdown; entitlement $remaining left"
if [ "$breakdown" != "100 50 950" ] || [ "$remaining" != 950 ]; then
  echo "walkthrough: expected 100 promotional and 50 included pages, 950 left (see $stack_log)" >&2
  exit 1
fi
amount="$(call POST "/subscriptions/$pages/top-ups" '{"unit": "pages", "units": 500}' | field amount)"
remaining="$(call GET "/subscriptions/$pages/entitlements/pages" | field remaining)"
report="$(call GET "/reports/usage?unit=pages" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"][0]["used"])')"
echo "walkthrough: a top-up of 500 pages charged $amount, $remaining left; the usage report counts $report pages"
if [ "$amount" != 30.00 ] || [ "$remaining" != 1450 ] || [ "$report" != 150 ]; then
  echo "walkthrough: expected a top-up of 30.00, 1450 pages left and 150 pages reported (see $stack_log)" >&2
  exit 1
fi
