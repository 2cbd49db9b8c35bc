"""Baseline for dispatch throughput: the dispatcher's HTTP client code
(`csapi.webhooks.sender.post`) with no csapi around it, at the same concurrency, in a
gevent-patched process of its own as `csapi serve` is.

    python -m bench.baseline_sender --url http://127.0.0.1:9001/hook --count 1000 --concurrency 5

Prints one JSON line: {"posts": n, "ok": n, "seconds": s}.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as gevent requires
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent.pool  # noqa: E402

from csapi.webhooks import sender  # noqa: E402
from csapi.webhooks.policy import DestinationPolicy  # noqa: E402

# A body and headers of the size and shape the dispatcher sends for a DOMAIN.CREATE event.
BODY = (b'{"eventDateTime":"2026-01-01 00:00:00 +0000","entityuuid":"0b5c3e6a-1f0e-4a8e-9f5e-'
        b'3c2d1b0a9f8e","description":"Successfully completed creating Domain. Domain Name: '
        b'bench-1-1, Domain Id: 101","event":"DOMAIN.CREATE","user":"8f6c3e0a-1f0e-4a8e-9f5e-'
        b'3c2d1b0a9f8e","account":"7e5b2d9f-1f0e-4a8e-9f5e-3c2d1b0a9f8e","entity":"Domain",'
        b'"Domain":"0b5c3e6a-1f0e-4a8e-9f5e-3c2d1b0a9f8e","status":"Completed"}')


def headers() -> dict[str, str]:
    return {
        "X-CS-Event-ID": "6a1c0f2e-1f0e-4a8e-9f5e-3c2d1b0a9f8e",
        "X-CS-Event": "DOMAIN.CREATE",
        "User-Agent": "CS-Hookshot/7e5b2d9f-1f0e-4a8e-9f5e-3c2d1b0a9f8e",
        "X-CS-Signature": sender.sign_hex("s3cret", BODY),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    policy = DestinationPolicy()  # the defaults: http and loopback allowed
    ok = 0
    sent = 0
    deadline = time.monotonic() + args.max_seconds

    def worker() -> None:
        nonlocal ok, sent
        while sent < args.count and time.monotonic() < deadline:
            sent += 1
            result = sender.post(args.url, BODY, headers(), timeout=10.0, ssl_verify=False,
                                 policy=policy)
            ok += result.success

    pool = gevent.pool.Pool(args.concurrency)
    start = time.time()
    for _ in range(args.concurrency):
        pool.spawn(worker)
    pool.join()
    print(json.dumps({"posts": sent, "ok": ok, "seconds": time.time() - start}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
