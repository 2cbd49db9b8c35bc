"""`csapi serve` and `csapi db upgrade`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys


def _serve(args: argparse.Namespace) -> int:
    # Only the entry point patches the standard library for gevent.
    from gevent import monkey

    monkey.patch_all()

    import gevent
    from gevent.pywsgi import WSGIServer

    from csapi.api.wsgi import ApiHandler
    from csapi.app import build_state, create_app
    from csapi.db import database_url
    from csapi.services import start_services, stop_services

    url = database_url(args.database_url)
    state = build_state(url, msid=args.msid, host=args.host, port=args.port,
                        key_file=args.key_file)
    app = create_app(state)
    error_log = logging.getLogger("csapi.wsgi")
    servers = [WSGIServer((args.host, args.port), app, log=None, error_log=error_log,
                          handler_class=ApiHandler)]
    if args.integration_port:
        def integration(environ: dict, start_response: object) -> object:
            environ["csapi.integration"] = True
            return app(environ, start_response)  # type: ignore[arg-type]

        servers.append(WSGIServer((args.host, args.integration_port), integration, log=None,
                                  error_log=error_log, handler_class=ApiHandler))
    for server in servers:
        server.start()
    start_services(state)
    logging.getLogger("csapi").info(
        "csapi serving on http://%s:%s/client/api (msid %s, database %s)",
        args.host, args.port, state.msid, url.split("@")[-1])

    stop = gevent.event.Event()

    def shutdown(*_: object) -> None:
        stop.set()

    gevent.signal_handler(signal.SIGTERM, shutdown)
    gevent.signal_handler(signal.SIGINT, shutdown)
    stop.wait()
    for server in servers:
        server.stop(timeout=5)
    stop_services(state)
    state.engine.dispose()
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from csapi.db import database_url, upgrade

    upgrade(database_url(args.database_url))
    print("database is at the latest schema")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="csapi", description="CloudStack-compatible API "
                                     "server with webhooks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the API server and the webhook dispatcher")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--database-url", default=None,
                       help="SQLAlchemy URL (env CSAPI_DATABASE_URL; default sqlite:///csapi.db)")
    serve.add_argument("--msid", type=int, default=None,
                       help="management server id (default derived from host name and port)")
    serve.add_argument("--integration-port", type=int, default=None,
                       help="unauthenticated integration API port (off unless given)")
    serve.add_argument("--key-file", default=None,
                       help="AES key file for secrets at rest (env CSAPI_KEY_FILE; default "
                       "csapi.key)")
    serve.set_defaults(func=_serve)
    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="dbcmd", required=True)
    up = dbsub.add_parser("upgrade", help="bring the database to the latest schema")
    up.add_argument("--database-url", default=None)
    up.set_defaults(func=_upgrade)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CSAPI_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
