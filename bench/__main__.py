"""`python -m bench <scenario|all> [--backend sqlite|mysql] [--runs N] ...`"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as gevent requires
import importlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

SCENARIOS = ("throughput", "latency", "isolation", "api", "scale", "memory")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("scenario", choices=(*SCENARIOS, "all"))
    p.add_argument("--backend", choices=("sqlite", "mysql"), action="append", dest="backends",
                   help="database (repeatable); default: the scenario's own (throughput: "
                   "both; scale: mysql; others: sqlite)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure (median reported)")
    p.add_argument("--deliveries", type=int, default=1200,
                   help="throughput: deliveries per measurement")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="latency/isolation: seconds of steady load per run")
    p.add_argument("--rate", type=float, default=200.0,
                   help="latency: events/s offered (each to 5 webhooks)")
    p.add_argument("--iso-rate", type=float, default=40.0,
                   help="isolation: events/s of the steady phase (half to each webhook); "
                        "below what the server sustains, so that latency measures the black "
                        "hole's effect rather than an overload")
    p.add_argument("--wrk-seconds", type=float, default=5.0,
                   help="api: seconds per wrk measurement")
    p.add_argument("--scale", type=float, default=1.0,
                   help="scale/memory: fraction of the full data set (1M history rows, "
                   "10k webhooks, 100k queued jobs)")
    p.add_argument("--mem-rate", type=float, default=50.0,
                   help="memory: events/s of the steady load (x5 webhooks)")
    p.add_argument("--quick", action="store_true",
                   help="memory: 20 s / 60 s instead of 1 min / 5 min of steady load")
    p.add_argument("--label", default="",
                   help="tag for the RESULTS.md sections (e.g. 'before'), so that a run of "
                   "other code (CSAPI_BENCH_SOURCE) does not replace this code's results")
    p.add_argument("--no-save", action="store_true", help="print only; leave RESULTS.md")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING)
    from bench.common import RESULTS

    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        module = importlib.import_module(f"bench.scenarios.{name}")
        reports = module.run(args)
        took = time.monotonic() - t0
        for report in reports:
            if args.label:
                report.key += f"-{args.label}"
                report.title += f" [{args.label}]"
            report.notes.append(f"Wall time of the scenario ({len(reports)} report(s)): "
                                f"{took:.0f} s.")
            report.print()
            if not args.no_save:
                report.save()
    if not args.no_save:
        print(f"results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
