#!/usr/bin/env bash
# The local AWS emulator (moto server) on 127.0.0.1:4566, one request at a time
# (infra/scripts/moto_serve.py says why).
#   emulator.sh start   start it in the background unless one already answers; wait until ready
#   emulator.sh stop    stop the one this script started
#   emulator.sh run     run it in the foreground
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BILLING_VENV:-$root/.venv}"
state="$root/.local"
port="${EMULATOR_PORT:-4566}"
url="http://127.0.0.1:$port"
mkdir -p "$state"

ready() { curl -fsS -o /dev/null "$url/moto-api/" 2>/dev/null; }

case "${1:-start}" in
  start)
    if ready; then echo "emulator: already up at $url" >&2; exit 0; fi
    "$root/infra/scripts/venv.sh"
    nohup "$venv/bin/python" "$root/infra/scripts/moto_serve.py" 127.0.0.1 "$port" > "$state/emulator.log" 2>&1 &
    echo $! > "$state/emulator.pid"
    for _ in $(seq 1 100); do
      if ready; then echo "emulator: up at $url (pid $(cat "$state/emulator.pid"))" >&2; exit 0; fi
      sleep 0.2
    done
    echo "emulator: did not come up; see $state/emulator.log" >&2
    tail -20 "$state/emulator.log" >&2 || true
    exit 1
    ;;
  stop)
    if [ -f "$state/emulator.pid" ]; then
      kill "$(cat "$state/emulator.pid")" 2>/dev/null || true
      rm -f "$state/emulator.pid"
      echo "emulator: stopped" >&2
    fi
    ;;
  run)
    "$root/infra/scripts/venv.sh"
    exec "$venv/bin/python" "$root/infra/scripts/moto_serve.py" 127.0.0.1 "$port"
    ;;
  *) echo "usage: $0 start|stop|run" >&2; exit 2 ;;
esac
