"""Statistics, the printed table and `bench/RESULTS.md`."""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = """# csapi benchmark results

Written by `python -m bench` (`bench/run`); each section is replaced when its scenario runs
again, everything outside the marked sections is kept. Every figure is the median of several
runs and is either a ratio against a baseline measured in the same run or a latency
percentile: the machine is shared with other work (test suites, other benchmarks) and absolute
rates drift from minute to minute, so only same-run ratios and percentiles are compared.
"""


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


@dataclass
class Figure:
    """One reported figure: its value in each run, and the target it is held against."""

    name: str
    unit: str  # "x" for ratios, "ms", "MiB", "/s" ...
    values: list[float] = field(default_factory=list)
    target: str = ""  # e.g. ">= 0.6"
    info: bool = False  # context only (absolute rates): never a target

    @property
    def value(self) -> float:
        return median(self.values)

    def met(self) -> str:
        if not self.target:
            return ""
        op, _, bound = self.target.partition(" ")
        v = self.value
        if math.isnan(v):
            return "no data"
        ok = v >= float(bound) if op == ">=" else v <= float(bound)
        return "yes" if ok else "NO"


def fmt(v: float, unit: str) -> str:
    if math.isnan(v):
        return "n/a"
    if unit == "x":
        return f"{v:.2f}x"
    if abs(v) >= 100:
        return f"{v:.0f} {unit}"
    return f"{v:.1f} {unit}" if abs(v) >= 10 else f"{v:.2f} {unit}"


def machine() -> str:
    load = os.getloadavg()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    code = ""
    source = os.environ.get("CSAPI_BENCH_SOURCE")
    if source:  # name the commit, never the folder (it is a path on this machine)
        rev = subprocess.run(["git", "-C", source, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=False).stdout.strip()
        code = f"; csapi code at commit {rev or 'unknown'}"
    return (f"{os.cpu_count()} cores ({model or platform.processor() or 'unknown CPU'}), "
            f"Python {platform.python_version()}, load average {load[0]:.1f} / {load[1]:.1f} "
            f"at the start of the run (shared machine: other work ran at the same time){code}")


@dataclass
class Report:
    """What one scenario run prints and writes to RESULTS.md."""

    key: str  # section id, e.g. "throughput-sqlite"
    title: str
    runs: int
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M %Z"))
    host: str = field(default_factory=machine)

    def figure(self, name: str, unit: str, target: str = "", info: bool = False) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        f = Figure(name, unit, target=target, info=info)
        self.figures.append(f)
        return f

    def table(self) -> str:
        lines = ["| figure | median | runs | target | met |", "|---|---:|---|---|---|"]
        for f in self.figures:
            runs = ", ".join(fmt(v, f.unit) for v in f.values)
            lines.append(f"| {f.name} | **{fmt(f.value, f.unit)}** | {runs} | "
                         f"{f.target} | {f.met()} |")
        return "\n".join(lines)

    def markdown(self) -> str:
        body = [f"### {self.title}", "",
                f"{self.started}; {self.host}; median of {self.runs} run(s).", ""]
        body += [self.table(), ""]
        body += [f"- {n}" for n in self.notes]
        return "\n".join(body).rstrip() + "\n"

    def print(self) -> None:
        print()
        print(self.markdown())

    def save(self, path: Path = RESULTS) -> None:
        text = path.read_text() if path.exists() else HEADER
        start = f"<!-- bench:{self.key} -->"
        end = f"<!-- /bench:{self.key} -->"
        block = f"{start}\n{self.markdown()}{end}"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        path.write_text(text)
