"""Baseline for the API scenario: a minimal Flask app on the same gevent WSGI server (and
handler) as `csapi serve`, answering every request with a fixed JSON body of a given size.

    python -m bench.flask_baseline --port 9002 --size 9000     # prints "ready"
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as gevent requires
import json  # noqa: E402
import sys  # noqa: E402

from flask import Flask, Response  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

from csapi.api.wsgi import ApiHandler  # noqa: E402


def body_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (at least the empty envelope)."""
    empty = json.dumps({"listwebhooksresponse": {"pad": ""}}, separators=(",", ":"))
    pad = max(0, size - len(empty))
    data = json.dumps({"listwebhooksresponse": {"pad": "x" * pad}}, separators=(",", ":"))
    return data.encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    body = body_of_size(args.size)
    app = Flask("baseline")

    @app.route("/client/api", methods=["GET", "POST"])
    def api() -> Response:
        return Response(body, content_type="application/json; charset=UTF-8")

    server = WSGIServer(("127.0.0.1", args.port), app, log=None, handler_class=ApiHandler)
    server.start()
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
