"""Generates a Python client from the OpenAPI document and checks it has every operation.

Usage: openapi_client_check.py <openapi.json> <work dir>

openapi-python-client writes one module per operation, named after its operationId in
snake_case (`getCustomer` -> `get_customer.py`); two operations with one id, or an operation
without one, would lose a method of the client. Exits non-zero naming what is missing.
"""

import json
import re
import subprocess
import sys
from pathlib import Path


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def main() -> int:
    document, work = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(document.read_text())
    operations = [
        (method.upper(), path, op.get("operationId"))
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "delete", "patch"}
    ]
    missing_ids = [f"{m} {p}" for m, p, op_id in operations if not op_id]
    ids = [op_id for _, _, op_id in operations if op_id]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    out = work / "client"
    subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(out),
            "--overwrite",
            "--meta",
            "none",
        ],
        check=True,
        capture_output=True,
    )
    modules = {p.stem for p in out.rglob("*.py")}
    absent = [i for i in ids if snake(i) not in modules]
    for label, items in [
        ("operations without an operationId", missing_ids),
        ("operationIds used twice", twice),
        ("operations missing from the generated client", absent),
    ]:
        if items:
            print(f"openapi client: {label}: {', '.join(items)}", file=sys.stderr)
    if missing_ids or twice or absent:
        return 1
    print(f"openapi client: all {len(ids)} operations generated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
