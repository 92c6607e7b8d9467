# Sourced by the scripts: local defaults for every setting, each overridable from the environment.
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
# Dummy credentials: without them the SDK falls through to the instance metadata service.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export TABLE_NAME="${TABLE_NAME:-billing}"
export JWT_SECRET="${JWT_SECRET:-local-dev-secret}"
export LOCAL_GATEWAY_ADDR="${LOCAL_GATEWAY_ADDR:-127.0.0.1:3000}"
export RUST_LOG="${RUST_LOG:-info}"
# The local stack: secrets may be left out (they default to local values). Deployed functions
# never have it, and stop at start when a secret is missing.
export LOCAL_STACK="${LOCAL_STACK:-1}"
# The local stack runs on the test clock (POST /api/v1/test-clock/advance); 0 for real time.
export TEST_CLOCK="${TEST_CLOCK:-1}"
# Seconds between the local stack's scheduler runs (EventBridge's schedule when deployed).
export TICK_SECONDS="${TICK_SECONDS:-60}"
# The local Stripe simulator (infra/stripe-sim).
export STRIPE_SECRET_KEY="${STRIPE_SECRET_KEY:-sk_test_local}"
export STRIPE_API_BASE="${STRIPE_API_BASE:-http://127.0.0.1:12111}"
export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_local}"
export STRIPE_SIM_ADDR="${STRIPE_SIM_ADDR:-127.0.0.1:12111}"
# Where the simulator posts its signed events: the local gateway's webhook endpoint.
export STRIPE_WEBHOOK_URL="${STRIPE_WEBHOOK_URL-http://$LOCAL_GATEWAY_ADDR/webhooks/stripe}"
