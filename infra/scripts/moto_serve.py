"""moto's server (the same app as `moto_server`), serving one request at a time.

moto rolls a failed DynamoDB transaction back by restoring a copy of the whole table taken when
the transaction began. With moto's default threaded server, that restore also undoes whatever
other requests wrote meanwhile: committed subscriptions, slots and invoices vanish, which real
DynamoDB (atomic, isolated transactions) never does. One request at a time makes moto's
transactions atomic and isolated again; our code still runs its requests concurrently.

usage: moto_serve.py <host> <port>
"""

import os
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
