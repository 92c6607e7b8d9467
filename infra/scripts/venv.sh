#!/usr/bin/env bash
# Creates .venv with the pinned Python tools (moto server, cfn-lint, schemathesis), once.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${BILLING_VENV:-$root/.venv}"
req="$root/infra/requirements.txt"
stamp="$venv/.requirements.sha"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "venv: installing $(grep -cv '^#' "$req") packages into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
