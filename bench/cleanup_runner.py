"""One history cleanup pass (`csapi.webhooks.cleanup.trim_all`) in a gevent-patched process of
its own, as the dispatcher's cleanup greenlet would run it, against a running server's
database. Prints one JSON line when done: {"removed": n, "seconds": s}.

    python -m bench.cleanup_runner --database-url mysql+pymysql://...
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as gevent requires
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from csapi import db as dblib  # noqa: E402
from csapi.webhooks import cleanup  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    engine = dblib.make_engine(args.database_url)
    state = SimpleNamespace(sessions=dblib.make_sessionmaker(engine))
    print("started", flush=True)
    t0 = time.monotonic()
    removed = cleanup.trim_all(state)
    print(json.dumps({"removed": removed, "seconds": time.monotonic() - t0}), flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
