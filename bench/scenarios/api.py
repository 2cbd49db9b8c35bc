"""Scenario 4, API requests/s through `csapi serve`, driven by wrk.

Signed `listWebhooks` (page 1 of 20, from 25 webhooks) as one static signed URL (no
`expires`: CloudStack accepts a signature without one unless timestamps are enforced) and
`createWebhook` through a wrk Lua script that walks a file of pre-signed URLs (unique names,
disabled webhooks so nothing is delivered). Baseline, in the same run: a minimal Flask app on
the same gevent WSGI server and handler answering a JSON body of the listWebhooks page's size.
Target: listWebhooks >= 0.5 x baseline.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Report
from bench.scenarios.shared import SECRET, settle
from bench.stack import ROOT, Receiver, child_env, free_port, stack

CONNECTIONS = 8
WEBHOOKS = 25
LUA = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #paths then i = 1 end
  return wrk.format("GET", paths[i])
end
"""


def wrk(url: str, seconds: float, script: Path | None = None,
        paths: Path | None = None) -> dict[str, float]:
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed: run bench/run (it installs it) or "
                           "apt-get install -y wrk")
    cmd = [exe, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, int(seconds))}s", "--timeout", "10s",
           "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    env = child_env()
    if paths is not None:
        env["BENCH_PATHS"] = str(paths)
    out = subprocess.run(cmd + [url], capture_output=True, text=True, env=env,
                         timeout=seconds + 60, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
              "non2xx": 0.0}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        result["non2xx"] = float(m.group(1))
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            result[f"p{pct}"] = float(m.group(1)) * scale
    return result


class FlaskBaseline:
    def __init__(self, size: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "bench.flask_baseline", "--port", str(self.port),
             "--size", str(size)], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL)
        assert self.process.stdout is not None
        if b"ready" not in self.process.stdout.readline():
            raise RuntimeError("the Flask baseline did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def measure(args: argparse.Namespace, backend: str) -> Report:
    seconds = args.wrk_seconds
    rep = Report(f"api-{backend}", f"4. API requests/s ({backend})", args.runs)
    rep.notes += [
        f"wrk 1 thread, {CONNECTIONS} keep-alive connections, {seconds:g} s per measurement; "
        "measurements interleaved: listWebhooks, baseline, createWebhook.",
    ]
    folder = Path(tempfile.mkdtemp(prefix="csapi-bench-wrk-"))
    script = folder / "paths.lua"
    script.write_text(LUA)
    rx = Receiver()  # never called: every webhook here is Disabled
    base = None
    try:
        with stack(backend) as s:
            s.start()
            assert s.server is not None
            api = s.client()
            for i in range(WEBHOOKS):
                api.ok("createWebhook", name=f"api-{i}", payloadurl=rx.url(f"/api{i}"),
                       secretkey=SECRET, state="Disabled",
                       description=f"benchmark webhook number {i}")
            list_path = api.signed_path("listWebhooks", page=1, pagesize=20)
            status, body = api.get(list_path)
            assert status == 200 and b'"count":' in body, body[:300]
            size = len(body)
            rep.notes.append(f"listWebhooks page: {size} bytes; the baseline answers as many.")
            base = FlaskBaseline(size)
            server_url = f"http://127.0.0.1:{s.server.port}"
            for run in range(args.runs):
                create_paths = folder / f"create-{run}.txt"
                create_paths.write_text("\n".join(
                    api.signed_path("createWebhook", name=f"wrk-{run}-{i}",
                                    payloadurl=rx.url(f"/never/{run}/{i}"), state="Disabled")
                    for i in range(20000)) + "\n")
                listed = wrk(server_url + list_path, seconds)
                baseline = wrk(f"http://127.0.0.1:{base.port}/client/api", seconds)
                created = wrk(server_url + "/client/api", seconds, script, create_paths)
                settle(s)
                rep.figure("listWebhooks / baseline requests/s", "x",
                           ">= 0.5").values.append(listed["rps"] / baseline["rps"])
                rep.figure("createWebhook / baseline requests/s", "x",
                           info=True).values.append(created["rps"] / baseline["rps"])
                rep.figure("listWebhooks requests/s", "/s", info=True).values.append(
                    listed["rps"])
                rep.figure("createWebhook requests/s", "/s", info=True).values.append(
                    created["rps"])
                rep.figure("baseline requests/s", "/s", info=True).values.append(
                    baseline["rps"])
                for name, res in (("listWebhooks", listed), ("createWebhook", created),
                                  ("baseline", baseline)):
                    rep.figure(f"{name} p99 latency (wrk, {CONNECTIONS} conns)", "ms",
                               info=True).values.append(res.get("p99", float("nan")))
                for name, res in (("listWebhooks", listed), ("createWebhook", created)):
                    if res["non2xx"]:
                        rep.notes.append(f"run {run}: {name} had {res['non2xx']:.0f} non-2xx "
                                         "answers")
                print(f"  run {run}: list {listed['rps']:.0f}/s, create {created['rps']:.0f}/s,"
                      f" baseline {baseline['rps']:.0f}/s", flush=True)
    finally:
        if base is not None:
            base.close()
        rx.close()
        shutil.rmtree(folder, ignore_errors=True)
    return rep


def run(args: argparse.Namespace) -> list[Report]:
    return [measure(args, backend) for backend in args.backends or ("sqlite",)]
