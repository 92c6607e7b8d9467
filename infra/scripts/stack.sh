# Sourced by the scripts that test a running local stack (schemathesis.sh, walkthrough.sh):
# `start_stack NAME PORT STRIPE_PORT [VAR=value ...]` builds the binaries, starts a Stripe
# simulator on STRIPE_PORT and a local stack on PORT with a table, queues and bus of its own
# (named NAME-<time>-<pid>), with the extra variables given, and waits for its health check.
# Sets `bin` (the debug binaries) and `stack_log`; both processes stop when the script exits.
# Expects the emulator to be up.
start_stack() {
  local name="$1" port="$2" sim_port="$3"
  shift 3
  local root state run
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  state="$root/.local"
  mkdir -p "$state"
  cargo build --quiet -p local-stack -p stripe-sim --bins
  bin="${CARGO_TARGET_DIR:-$root/target}/debug"
  STRIPE_SIM_ADDR="127.0.0.1:$sim_port" STRIPE_WEBHOOK_URL="" \
    "$bin/stripe-sim" > "$state/$name-stripe.log" 2>&1 &
  stack_sim=$!
  run="$name-$(date +%s)-$$"
  stack_log="$state/$name-stack.log"
  env TABLE_NAME="$run" RENEWAL_QUEUE_URL="" RENEWAL_QUEUE_NAME="$run" EVENT_BUS_NAME="$run" \
    NOTIFICATIONS_QUEUE_NAME="$run-notifications" WEBHOOKS_QUEUE_NAME="$run-webhooks" \
    MAIL_FEEDBACK_TOPIC_NAME="$run-mail-feedback" STRIPE_API_BASE="http://127.0.0.1:$sim_port" \
    LOCAL_GATEWAY_ADDR="127.0.0.1:$port" RUST_LOG=warn "$@" \
    "$bin/local-stack" > "$stack_log" 2>&1 &
  stack_pid=$!
  trap 'kill $stack_pid $stack_sim 2>/dev/null || true' EXIT
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v1/health" 2>/dev/null && return 0
    if ! kill -0 "$stack_pid" 2>/dev/null; then
      echo "$name: the local stack stopped:" >&2
      tail -5 "$stack_log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "$name: the local stack did not answer on :$port" >&2
  return 1
}
