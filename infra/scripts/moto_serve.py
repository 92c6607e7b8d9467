"""moto's server (the same app as `moto_server`), serving one request at a time.

moto rolls a failed DynamoDB transaction back by restoring a copy of the whole table taken when
the transaction began. With moto's default threaded server, that restore also undoes whatever
other requests wrote meanwhile: committed subscriptions, slots and invoices vanish, which real
DynamoDB (atomic, isolated transactions) never does. One request at a time makes moto's
transactions atomic and isolated again; our code still runs its requests concurrently.

It also answers `GET /_local/ses/messages?to=<address>`: the email moto's SES stored (the same
records as `/moto-api/data.json`'s `ses.Message`), only those sent to `<address>`. data.json dumps
every backend, DynamoDB items included, and grows to megabytes over a test run; this reads the
SES store alone.

usage: moto_serve.py <host> <port>
"""

import json
import os
import sys
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def sent_messages(to: str) -> list:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    found = []
    for backend in ses_backends[DEFAULT_ACCOUNT_ID].values():
        for message in backend.sent_messages:
            destinations = getattr(message, "destinations", None)
            if not isinstance(destinations, dict):
                continue
            addresses = [a for group in destinations.values() for a in group]
            if not to or to in addresses:
                found.append(
                    {
                        "id": message.id,
                        "source": message.source,
                        "subject": getattr(message, "subject", ""),
                        "body": getattr(message, "body", ""),
                        "destinations": destinations,
                    }
                )
    return found


def with_local_routes(app):
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO") == "/_local/ses/messages":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            body = json.dumps(sent_messages(query.get("to", [""])[0])).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return wrapped


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = with_local_routes(DomainDispatcherApplication(create_backend_app))
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
