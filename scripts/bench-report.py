#!/usr/bin/env python3
"""Turns the benchmark results into docs/benchmarks/results.md and chart.svg.

Reads criterion's output (target/criterion/<group>/<bench>/new/estimates.json
for the median, benchmark.json for the throughput element count) and the
benches' own JSON (target/hostcall-bench/footprint.json), compares every
figure with the baseline measured in the same run and with the target from
the issue, and writes:

  docs/benchmarks/results.md   one table with every figure, then details
  docs/benchmarks/chart.svg    a hand-written SVG bar chart

Run `cargo bench` first, then:  python3 scripts/bench-report.py
Python 3 standard library only. Missing figures appear as "not measured".
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
CRITERION = Path(os.environ.get("CRITERION_HOME", TARGET / "criterion"))
OWN = TARGET / "hostcall-bench"
# Where each result is: criterion's estimates per bench, footprint's own file.
ESTIMATES = "*/*/new/estimates.json"
FOOTPRINT = OWN / "footprint.json"
OUT = ROOT / "docs" / "benchmarks"

# "About 0 %" for an idle context, made concrete.
IDLE_CPU_LIMIT = 0.5


# --------------------------------------------------------------------------
# Reading the results


@dataclass
class Bench:
    """One criterion benchmark: median time per iteration (ns)."""

    id: str
    median_ns: float
    low_ns: float
    high_ns: float
    mean_ns: float
    elements: int | None
    bytes: int | None = None

    @property
    def byte_rate(self) -> float | None:
        """Bytes per second, for benches with a byte throughput."""
        if not self.bytes:
            return None
        return self.bytes / (self.median_ns * 1e-9)

    @property
    def noisy(self) -> bool:
        """Samples from two different regimes (the mean far from the median)
        or a wide confidence interval: on a VM, typically thread wake-ups
        that are sometimes cheap (same CPU) and sometimes not."""
        ratio = self.mean_ns / self.median_ns if self.median_ns else 1.0
        spread = (self.high_ns - self.low_ns) / self.median_ns if self.median_ns else 0.0
        return ratio > 1.5 or ratio < 1 / 1.5 or spread > 0.5

    @property
    def rate(self) -> float | None:
        """Elements per second, for benches with a throughput."""
        if not self.elements:
            return None
        return self.elements / (self.median_ns * 1e-9)


def read_criterion() -> dict[str, Bench]:
    benches: dict[str, Bench] = {}
    if not CRITERION.is_dir():
        return benches
    for estimates in sorted(CRITERION.glob(ESTIMATES)):
        new = estimates.parent
        try:
            e = json.loads(estimates.read_text())
            median = e["median"]
            meta = {}
            if (new / "benchmark.json").exists():
                meta = json.loads((new / "benchmark.json").read_text())
        except (OSError, ValueError, KeyError) as problem:
            print(f"skipping {estimates}: {problem}", file=sys.stderr)
            continue
        bench_id = meta.get("full_id") or f"{new.parent.parent.name}/{new.parent.name}"
        throughput = meta.get("throughput") or {}
        elements = throughput.get("Elements") if isinstance(throughput, dict) else None
        nbytes = throughput.get("Bytes") if isinstance(throughput, dict) else None
        ci = median.get("confidence_interval", {})
        benches[bench_id] = Bench(
            id=bench_id,
            median_ns=float(median["point_estimate"]),
            low_ns=float(ci.get("lower_bound", median["point_estimate"])),
            high_ns=float(ci.get("upper_bound", median["point_estimate"])),
            mean_ns=float(e.get("mean", median)["point_estimate"]),
            elements=int(elements) if elements else None,
            bytes=int(nbytes) if nbytes else None,
        )
    return benches


def last_run() -> str:
    """When the newest result read here was written: the report can be
    regenerated later without passing off old numbers as new ones."""
    results = [*CRITERION.glob(ESTIMATES), FOOTPRINT]
    times = [r.stat().st_mtime for r in results if r.exists()]
    if not times:
        return "no results"
    when = datetime.datetime.fromtimestamp(max(times), datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def read_footprint() -> dict | None:
    path = FOOTPRINT
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as problem:
        print(f"skipping {path}: {problem}", file=sys.stderr)
        return None
    return data


# --------------------------------------------------------------------------
# Formatting


def fmt_time(ns: float | None) -> str:
    if ns is None:
        return "not measured"
    if ns < 1e3:
        return f"{ns:.3g} ns" if ns < 100 else f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.3g} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1e9:.3g} s"


def fmt_rate(per_s: float | None) -> str:
    if per_s is None:
        return "not measured"
    if per_s >= 1e6:
        return f"{per_s / 1e6:.3g} M/s"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.3g} k/s"
    return f"{per_s:.3g} /s"


def fmt_bandwidth(per_s: float | None) -> str:
    if per_s is None:
        return "not measured"
    if per_s >= 1e9:
        return f"{per_s / 1e9:.3g} GB/s"
    return f"{per_s / 1e6:.3g} MB/s"


def fmt_bytes(b: float | None) -> str:
    return "not measured" if b is None else f"{b:.0f} B"


def fmt_percent(p: float | None) -> str:
    return "not measured" if p is None else f"{p:.3f} %"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:.2f}×" if r < 100 else f"{r:.0f}×"


# --------------------------------------------------------------------------
# The table


@dataclass
class Row:
    """One line of the results table."""

    what: str
    value: str
    baseline: str = "—"
    baseline_value: str = "—"
    ratio: str = "—"
    target: str = "—"
    status: str = "—"  # "met", "missed", "not measured", "—" (no target)
    # For the chart: (label, ns, kind) with kind "figure" or "baseline".
    bars: list = field(default_factory=list)


def status_of(checks: list[bool | None]) -> str:
    if any(c is None for c in checks):
        return "not measured"
    return "met" if all(checks) else "missed"


def ns_of(benches: dict[str, Bench], bench_id: str) -> float | None:
    b = benches.get(bench_id)
    return b.median_ns if b else None


NOISE_MARK = " ⚠"


def noise_mark(benches: dict[str, Bench], bench_id: str | None) -> str:
    b = benches.get(bench_id) if bench_id else None
    return NOISE_MARK if b and b.noisy else ""


def time_row(
    benches: dict[str, Bench],
    what: str,
    figure: str,
    baseline: str | None,
    target: str,
    checks,
    extra_bars: tuple[str, ...] = (),
) -> Row:
    """A latency row: ratio = figure / baseline (lower is better)."""
    f = ns_of(benches, figure)
    b = ns_of(benches, baseline) if baseline else None
    ratio = f / b if f is not None and b is not None else None
    row = Row(
        what=what,
        value=fmt_time(f) + noise_mark(benches, figure),
        baseline=f"`{baseline}`" if baseline else "—",
        baseline_value=(fmt_time(b) + noise_mark(benches, baseline)) if baseline else "—",
        ratio=fmt_ratio(ratio),
        target=target,
        status=status_of(checks(f, ratio)) if checks else "—",
    )
    row.bars.append((figure, f, "figure", row.status))
    if baseline:
        row.bars.append((baseline, b, "baseline", None))
    for extra in extra_bars:
        row.bars.append((extra, ns_of(benches, extra), "baseline", None))
    return row


def rate_row(
    benches: dict[str, Bench],
    what: str,
    figure: str,
    baseline: str,
    target: str,
    min_rate: float,
) -> Row:
    """A throughput row: ratio = figure / baseline (higher is better); the
    bars show the time per element."""
    f, b = benches.get(figure), benches.get(baseline)
    rate, base_rate = (f.rate if f else None), (b.rate if b else None)
    row = Row(
        what=what,
        value=fmt_rate(rate),
        baseline=f"`{baseline}`",
        baseline_value=fmt_rate(base_rate),
        ratio=fmt_ratio(rate / base_rate if rate and base_rate else None),
        target=target,
        status=status_of([None if rate is None else rate >= min_rate]),
    )
    row.bars.append((f"{figure} (per login)", 1e9 / rate if rate else None, "figure", row.status))
    row.bars.append((f"{baseline} (per login)", 1e9 / base_rate if base_rate else None, "baseline", None))
    return row


def build_rows(benches: dict[str, Bench], footprint: dict | None) -> list[Row]:
    rows: list[Row] = []

    # Inline round trip.
    rows.append(
        time_row(
            benches,
            "Inline round trip (host completes inside the host fn), per host call",
            "bridge/inline_round_trip",
            "baselines/naive_inline_round_trip",
            "≤ 150 ns, and ≤ 1× the naive design",
            lambda f, r: [None if f is None else f <= 150, None if r is None else r <= 1.0],
            ("baselines/direct_call",),
        )
    )

    # login pipelined through the C ABI.
    rows.append(
        time_row(
            benches,
            "`login` through the C ABI, inline completion, CBOR both ways (1024 calls back to back, per call)",
            "request_path/login_inline_pipelined",
            "request_path/add_cbor_pipelined",
            "≤ 1.5 µs",
            lambda f, r: [None if f is None else f <= 1500],
        )
    )

    # login through the C ABI as a new user measures it (issue 13): one at a
    # time with the host inline and the loop's idle watching against the
    # same with `spin_us: 0`; one at a time with a sleeping worker against a
    # relay of condvars along the same path; 10,000 in flight.
    rows.append(
        time_row(
            benches,
            "`login` one at a time, host completing inline, caller spinning on its reply",
            "request_path/login_inline_latency",
            "request_path/login_inline_latency_no_spin",
            "≤ 1.5 µs",
            lambda f, r: [None if f is None else f <= 1500],
        )
    )
    rows.append(
        time_row(
            benches,
            "`login` one at a time, host completing on a worker that sleeps on a condvar, caller asleep on its reply",
            "request_path/login_worker_latency",
            "baselines/condvar_relay",
            "≤ 1.2× the condvar relay along the same path",
            lambda f, r: [None if r is None else r <= 1.2],
            ("request_path/login_worker_latency_no_spin",),
        )
    )
    rows.append(
        rate_row(
            benches,
            "`login` × 10,000 in flight, one host worker completing in batches",
            "request_path/login_10k_worker",
            "request_path/login_10k_worker_no_spin",
            "≥ 1 M logins/s",
            1e6,
        )
    )

    # The same logins on a context isolated in a helper process (issue 14),
    # beside the in-process figures of the same run.
    rows.append(
        time_row(
            benches,
            "`login` one at a time, isolated in a helper process (socketpair), host completing inline, caller spinning",
            "request_path/login_inline_latency_process",
            "request_path/login_inline_latency",
            "≤ 25 µs",
            lambda f, r: [None if f is None else f <= 25_000],
        )
    )
    rows.append(
        time_row(
            benches,
            "`login` one at a time, isolated, host completing on a sleeping worker, caller asleep",
            "request_path/login_worker_latency_process",
            "request_path/login_worker_latency",
            "— (for comparison)",
            None,
        )
    )
    rows.append(
        rate_row(
            benches,
            "`login` × 10,000 in flight, isolated, one host worker completing in batches",
            "request_path/login_10k_worker_process",
            "request_path/login_10k_worker",
            "≥ 300,000 logins/s",
            3e5,
        )
    )
    # The same over a unix socket and TCP on loopback, to a helper already
    # running (`hostcall-helper --socket` / `--tcp`).
    for mode, how in (("socket", "a unix socket"), ("tcp", "TCP on loopback")):
        rows.append(
            time_row(
                benches,
                f"`login` one at a time, helper reached over {how}, host completing inline, caller spinning",
                f"request_path/login_inline_latency_{mode}",
                "request_path/login_inline_latency",
                "≤ 25 µs",
                lambda f, r: [None if f is None else f <= 25_000],
            )
        )
        rows.append(
            rate_row(
                benches,
                f"`login` × 10,000 in flight, helper reached over {how}, one host worker completing in batches",
                f"request_path/login_10k_worker_{mode}",
                "request_path/login_10k_worker",
                "≥ 300,000 logins/s",
                3e5,
            )
        )

    # Sequential cross-thread.
    rows.append(
        time_row(
            benches,
            "Sequential cross-thread round trip, spinning host worker",
            "bridge/cross_thread_spinning_host",
            "baselines/crossbeam_ping_pong",
            "≤ 3× the crossbeam ping-pong",
            lambda f, r: [None if r is None else r <= 3.0],
            ("baselines/atomic_spin_ping_pong", "baselines/naive_cross_thread_spinning_host"),
        )
    )
    rows.append(
        time_row(
            benches,
            "Sequential cross-thread round trip, sleeping host worker",
            "bridge/cross_thread_sleeping_host",
            "baselines/condvar_ping_pong",
            "≤ 1.2× the condvar ping-pong",
            lambda f, r: [None if r is None else r <= 1.2],
            ("baselines/naive_cross_thread_sleeping_host",),
        )
    )

    # Throughput.
    naive = benches.get("baselines/naive_throughput_1_host_thread")
    for threads in (1, 4):
        name = f"bridge/throughput_{threads}_host_thread{'s' if threads > 1 else ''}"
        b = benches.get(name)
        rate = b.rate if b else None
        naive_rate = naive.rate if naive else None
        ratio = rate / naive_rate if rate and naive_rate else None
        calls = b.elements if b and b.elements else None
        what = (
            f"Throughput, 10 000 requests in flight, {threads} host thread"
            f"{'s' if threads > 1 else ''}"
            + (f" ({calls:,} host calls, {fmt_time(b.median_ns)} each run)" if b and calls else "")
        )
        if threads == 1:
            target = "≥ 5 M completions/s, and ≥ 2× the naive design"
            status = status_of(
                [None if rate is None else rate >= 5e6, None if ratio is None else ratio >= 2.0]
            )
        else:
            target, status = "— (for comparison)", "—"
        row = Row(
            what=what,
            value=fmt_rate(rate),
            baseline="`baselines/naive_throughput_1_host_thread`",
            baseline_value=fmt_rate(naive_rate),
            ratio=fmt_ratio(ratio),
            target=target,
            status=status,
        )
        per = 1e9 / rate if rate else None
        row.bars.append((f"{name} (per completion)", per, "figure", status))
        if threads == 1:
            row.bars.append(
                (
                    "baselines/naive_throughput_1_host_thread (per completion)",
                    1e9 / naive_rate if naive_rate else None,
                    "baseline",
                    None,
                )
            )
        rows.append(row)

    # Native add versus CBOR add.
    for kind in ("latency", "pipelined"):
        native = ns_of(benches, f"request_path/add_native_{kind}")
        cbor = ns_of(benches, f"request_path/add_cbor_{kind}")
        speedup = cbor / native if native and cbor else None
        row = Row(
            what=f"Native `add` versus CBOR `add` ({kind})",
            value=fmt_time(native),
            baseline=f"`request_path/add_cbor_{kind}`",
            baseline_value=fmt_time(cbor),
            ratio=(fmt_ratio(speedup) + " faster") if speedup else "—",
            target="≥ 3× faster than CBOR add",
            status=status_of([None if speedup is None else speedup >= 3.0]),
        )
        row.bars.append((f"request_path/add_native_{kind}", native, "figure", row.status))
        row.bars.append((f"request_path/add_cbor_{kind}", cbor, "baseline", None))
        rows.append(row)

    rows.extend(payload_rows(benches))
    rows.extend(producer_rows(benches))

    # Teardown.
    t = benches.get("bridge/teardown")
    pending = t.elements if t and t.elements else None
    row = Row(
        what="Teardown: `destroy` with "
        + (f"{pending:,}" if pending else "100 000")
        + " host calls pending"
        + (f" ({t.median_ns / pending:.0f} ns per pending call)" if t and pending else ""),
        value=fmt_time(t.median_ns if t else None),
        target="≤ 50 ms",
        status=status_of([None if t is None else t.median_ns <= 50e6]),
    )
    row.bars.append(("bridge/teardown", t.median_ns if t else None, "figure", row.status))
    rows.append(row)

    # Memory.
    memory = (footprint or {}).get("memory", {})
    for key, label, naive_key in (
        ("demo_login_each", "N `login` requests on demo, one pending fetch each", "naive_pump_each"),
        ("demo_login_many", "one `login_many` of N ids on demo (all in flight)", "naive_hold"),
    ):
        m = memory.get(key)
        nv = memory.get(naive_key)
        value = m["reused_bytes_per_call"] if m else None
        naive_value = nv["reused_bytes_per_call"] if nv else None
        n = f"N = {m['n']:,}; " if m else ""
        rows.append(
            Row(
                what=f"Memory per in-flight host call: {label} "
                f"({n}fresh context: {fmt_bytes(m['fresh_bytes_per_call']) if m else '—'})",
                value=fmt_bytes(value),
                baseline=f"naive design, `{naive_key}`",
                baseline_value=fmt_bytes(naive_value),
                ratio=fmt_ratio(value / naive_value if value and naive_value else None),
                target="≤ 256 bytes per in-flight call",
                status=status_of([None if value is None else value <= 256]),
            )
        )

    # Memory, like for like: the same handlers on hostcall and on the naive design.
    for key, naive_key, label in (
        ("bench_pump_each", "naive_pump_each", "N `pump(1)` requests, one pending call each"),
        ("bench_hold", "naive_hold", "one `hold(N)`, a task per call"),
    ):
        m, nv = memory.get(key), memory.get(naive_key)
        value = m["reused_bytes_per_call"] if m else None
        naive_value = nv["reused_bytes_per_call"] if nv else None
        rows.append(
            Row(
                what=f"Memory per in-flight host call, hostcall versus the naive design: {label}",
                value=fmt_bytes(value),
                baseline=f"naive design, `{naive_key}`",
                baseline_value=fmt_bytes(naive_value),
                ratio=fmt_ratio(value / naive_value if value and naive_value else None),
                target="— (for comparison)",
            )
        )

    # Idle CPU.
    idle = (footprint or {}).get("idle_cpu", {})
    reference = idle.get("no_context", {}).get("percent")
    for key, label in (
        ("idle_context", "Idle context, nothing to do"),
        ("idle_after_burst", "Idle context, nothing to do right after a burst of 10,000 requests"),
        ("one_pending", "Idle context, one host call pending, host idle"),
    ):
        p = idle.get(key, {}).get("percent")
        window = idle.get("window_s")
        rows.append(
            Row(
                what=f"{label} (CPU over {window:g} s)" if window else label,
                value=fmt_percent(p),
                baseline="the process with no context",
                baseline_value=fmt_percent(reference),
                target=f"about 0 % (taken as < {IDLE_CPU_LIMIT} % of a core)",
                status=status_of([None if p is None else p < IDLE_CPU_LIMIT]),
            )
        )
    return rows


PAYLOAD_SIZES = ("100B", "1KiB", "10KiB", "64KiB", "150KiB")


def payload_rows(benches: dict[str, Bench]) -> list[Row]:
    """The payload sweep (benches/payload.rs): echo bandwidth at each size,
    one call at a time, against one memcpy of the same size in the same run
    (ratio = echo ÷ memcpy bandwidth; the issue sets no number, so no status);
    the two-copy baseline and the pipelined echo go in the chart."""
    rows: list[Row] = []
    for path, label in (("native", "`demo_native_echo`, raw bytes"), ("cbor", "`demo_call`, CBOR `[bytes]`")):
        for size in PAYLOAD_SIZES:
            figure = f"payload/{path}_echo_{size}"
            baseline = f"payload/memcpy_{size}"
            f, b = benches.get(figure), benches.get(baseline)
            rate = f.byte_rate if f else None
            base_rate = b.byte_rate if b else None
            ratio = rate / base_rate if rate and base_rate else None
            twice = benches.get(f"payload/memcpy_twice_{size}")
            piped = benches.get(f"payload/{path}_echo_pipelined_{size}")
            detail = [f"{fmt_time(f.median_ns)} per call" if f else None]
            if piped and piped.byte_rate:
                detail.append(f"pipelined {fmt_bandwidth(piped.byte_rate)}")
            if twice and twice.byte_rate:
                detail.append(f"two copies {fmt_bandwidth(twice.byte_rate)}")
            detail_text = "; ".join(d for d in detail if d)
            row = Row(
                what=f"Echo {size} through {label}, one call at a time"
                + (f" ({detail_text})" if detail_text else ""),
                value=fmt_bandwidth(rate) + noise_mark(benches, figure),
                baseline=f"`{baseline}`",
                baseline_value=fmt_bandwidth(base_rate) + noise_mark(benches, baseline),
                ratio=f"{ratio * 100:.3g} % of memcpy" if ratio else "—",
                target="— (against memcpy bandwidth)",
            )
            row.bars.append((figure, f.median_ns if f else None, "figure", row.status))
            row.bars.append((baseline, b.median_ns if b else None, "baseline", None))
            if size == "150KiB":
                for extra in (f"payload/memcpy_twice_{size}", f"payload/{path}_echo_pipelined_{size}"):
                    row.bars.append((extra, ns_of(benches, extra), "baseline", None))
            rows.append(row)
    return rows


PRODUCER_THREADS = (2, 4, 8)


def producer_rows(benches: dict[str, Bench]) -> list[Row]:
    """Submit-path scaling (benches/producers.rs): the total rate with N
    threads against the same bench with 1 thread, same run. Target: does not
    fall as threads are added (ratio ≥ 1, with 10 % allowed for noise).
    The shuffled-order rows are for comparison: completers answering their
    slices shuffled, against one thread answering in call order."""
    judged_target = "does not fall as threads are added (≥ 0.9× the 1-thread rate)"
    # kind, its rows' text, the bench it is compared with, its thread counts,
    # its target (None: judged against `judged_target`).
    kinds = (
        ("submit", "`demo_call` (`add`) from {n} threads at once, total calls/s", None, PRODUCER_THREADS, None),
        (
            "complete",
            "`demo_host_complete` from {n} threads at once (`login_many`, every token outstanding, "
            "then the threads released), total completions/s",
            None,
            PRODUCER_THREADS,
            None,
        ),
        (
            "complete_ping",
            "`bench_host_complete` from {n} threads at once (`hold` of 10 000 `ping` calls, one-byte "
            "answers, every token outstanding, then the threads released), total completions/s",
            None,
            PRODUCER_THREADS,
            None,
        ),
        (
            "complete_streaming",
            "`demo_host_complete` from {n} threads (`login_many`, tokens queued to the threads as "
            "they come; host-side wake-ups included), total completions/s",
            None,
            PRODUCER_THREADS,
            "— (for comparison: a host that wakes a thread per token)",
        ),
        (
            "complete_ping_shuffled",
            "`bench_host_complete` from {n} {threads} as above, each answering its tokens in a shuffled "
            "order, total completions/s",
            ("producers/complete_ping_1_threads", " (answers in call order)"),
            (1, *PRODUCER_THREADS),
            "— (for comparison: what the answers' order alone costs)",
        ),
    )
    rows: list[Row] = []
    for kind, what, baseline, threads, target in kinds:
        base_name, base_note = baseline or (f"producers/{kind}_1_threads", "")
        one = benches.get(base_name)
        one_rate = one.rate if one else None
        for n in threads:
            name = f"producers/{kind}_{n}_threads"
            b = benches.get(name)
            rate = b.rate if b else None
            ratio = rate / one_rate if rate and one_rate else None
            row = Row(
                what=what.format(n=n, threads="threads" if n > 1 else "thread"),
                value=fmt_rate(rate) + noise_mark(benches, name),
                baseline=f"`{base_name}`{base_note}",
                baseline_value=fmt_rate(one_rate) + noise_mark(benches, base_name),
                ratio=fmt_ratio(ratio),
                target=target or judged_target,
                status="—" if target else status_of([None if ratio is None else ratio >= 0.9]),
            )
            row.bars.append((f"{name} (per call)", 1e9 / rate if rate else None, "figure", row.status))
            row.bars.append((f"{base_name} (per call)", 1e9 / one_rate if one_rate else None, "baseline", None))
            rows.append(row)
    return rows


# --------------------------------------------------------------------------
# results.md


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


STATUS_MARK = {"met": "✅ met", "missed": "❌ missed", "not measured": "not measured", "—": "—"}


def summary_table(rows: list[Row]) -> list[str]:
    """The figures-against-targets table, as Markdown lines."""
    out = ["| figure | median | compared with | its median | ratio | target | result |"]
    out.append("| --- | ---: | --- | ---: | ---: | --- | --- |")
    for r in rows:
        out.append(
            f"| {r.what} | {r.value} | {r.baseline} | {r.baseline_value} | {r.ratio} "
            f"| {r.target} | {STATUS_MARK.get(r.status, r.status)} |"
        )
    return out


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def update_page(page: Path, rows: list[Row]) -> bool:
    """Replaces the table between the markers of the hand-written page."""
    if not page.exists():
        return False
    text = page.read_text()
    if BEGIN not in text or END not in text:
        return False
    when = last_run()
    table = "\n".join(
        [BEGIN, f"_Last run: {when}; {machine()}. Generated by `scripts/bench-report.py`._", ""]
        + summary_table(rows)
        + [END]
    )
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(head + table + tail)
    return True


def write_markdown(rows: list[Row], benches: dict[str, Bench], footprint: dict | None) -> str:
    when = last_run()
    out = []
    out.append("# Benchmark results\n")
    out.append(
        "Generated by `scripts/bench-report.py` from the last `cargo bench` "
        f"({when}; {machine()}). Every figure is the median of its criterion "
        "run; every baseline was measured in the same run, on the same machine, "
        "so the ratios are what count.\n"
    )
    out.append("![benchmark chart](chart.svg)\n")
    if footprint and footprint.get("quick"):
        out.append("> The footprint figures come from a quick run and are not representative.\n")
    out.append("## Figures against targets\n")
    out.extend(summary_table(rows))
    met = sum(r.status == "met" for r in rows)
    missed = sum(r.status == "missed" for r in rows)
    unmeasured = sum(r.status == "not measured" for r in rows)
    out.append(
        f"\n{met} met, {missed} missed, {unmeasured} not measured. Ratios are "
        "figure ÷ baseline for times (lower is better), figure ÷ baseline for "
        "throughput (higher is better), CBOR ÷ native for the native entry point.\n"
    )

    if any(b.noisy for b in benches.values()):
        out.append(
            f"{NOISE_MARK.strip()} marks a noisy figure: its mean is more than 1.5× away from "
            "its median, or the confidence interval of the median is wider than half of it. "
            "These are benches whose cost is a thread wake-up, which on a virtual machine "
            "is sometimes cheap (both threads end up on one CPU) and sometimes an "
            "inter-processor wake of a halted virtual CPU; their ratios vary from run "
            "to run. See the mean in the next table.\n"
        )

    out.append("## Every criterion figure\n")
    out.append("| benchmark | median | 95 % CI of the median | mean | throughput |")
    out.append("| --- | ---: | --- | ---: | ---: |")
    for b in sorted(benches.values(), key=lambda b: b.id):
        rate = fmt_rate(b.rate) if b.rate else (fmt_bandwidth(b.byte_rate) if b.byte_rate else "—")
        out.append(
            f"| `{b.id}`{noise_mark(benches, b.id)} | {fmt_time(b.median_ns)} | {fmt_time(b.low_ns)} – "
            f"{fmt_time(b.high_ns)} | {fmt_time(b.mean_ns)} | {rate} |"
        )
    if not benches:
        out.append("| (no criterion results found under `target/criterion`) | | | | |")
    out.append("")

    out.append("## Memory per in-flight host call\n")
    memory = (footprint or {}).get("memory", {})
    if memory:
        out.append(
            "Counting global allocator (requested bytes, all threads). *Fresh*: a new "
            "context, so the in-flight table and queues grow to N along the way; "
            "*reused*: a second round on the same context after the first was "
            "completed (the steady state, judged against the target). Blocks are the "
            "live allocations each call adds, by size.\n"
        )
        out.append("| scenario | N | fresh | reused | allocations per call | live blocks per call (reused) |")
        out.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for key, m in memory.items():
            blocks = " + ".join(f"{k:.2g}×{size} B" for size, k in m.get("reused_blocks", []))
            out.append(
                f"| {m['what']} (`{key}`) | {m['n']:,} | {fmt_bytes(m['fresh_bytes_per_call'])} "
                f"| {fmt_bytes(m['reused_bytes_per_call'])} | {m['reused_allocs_per_call']:.2f} "
                f"| {blocks or '—'} |"
            )
    else:
        out.append("not measured (run `cargo bench --bench footprint`).")
    out.append("")

    out.append("## Allocation calls per request\n")
    allocations = (footprint or {}).get("allocations", {})
    if allocations:
        out.append(
            "Counting global allocator, calls to `alloc` and `realloc` per request in the "
            "steady state (N issued, then every host call completed, on a context that did "
            "the same once before), split between the host thread that calls and "
            "completes and the library's threads (the loop, where the host fn runs).\n"
        )
        out.append("| scenario | N | host thread | library threads |")
        out.append("| --- | ---: | ---: | ---: |")
        for key, a in allocations.items():
            out.append(
                f"| {a['what']} (`{key}`) | {a['n']:,} | {a['host_thread']:.2f} "
                f"| {a['library_threads']:.2f} |"
            )
    else:
        out.append("not measured (run `cargo bench --bench footprint`).")
    out.append("")

    out.append("## Idle CPU\n")
    idle = (footprint or {}).get("idle_cpu", {})
    if idle:
        out.append(
            f"Process CPU time (`CLOCK_PROCESS_CPUTIME_ID`) over {idle.get('window_s', 0):g} s "
            "while the main thread sleeps, as a percentage of one core; `/proc/self/stat` "
            "(10 ms ticks) as a cross-check.\n"
        )
        out.append("| scenario | CPU | /proc ticks |")
        out.append("| --- | ---: | ---: |")
        for key, r in idle.items():
            if not isinstance(r, dict):
                continue
            stat = r.get("proc_stat_percent")
            out.append(
                f"| {r['what']} (`{key}`) | {fmt_percent(r['percent'])} | "
                f"{fmt_percent(stat) if stat is not None else '—'} |"
            )
    else:
        out.append("not measured (run `cargo bench --bench footprint`).")
    out.append("")

    out.append("## How to reproduce\n")
    out.append("```sh")
    out.append("cargo bench                       # every bench (a few minutes)")
    out.append("python3 scripts/bench-report.py   # this page and chart.svg")
    out.append("cargo bench -- --test             # smoke mode: one iteration each, no figures")
    out.append("```\n")
    out.append(
        "What each bench does is described at the top of its file in `benches/`. "
        "Host calls use the bench library in `benches/common/library.rs` (`pump(n)` awaits "
        "`ping` n times in sequence; `hold(n)` starts n at once); the naive design is "
        "`benches/common/naive.rs`. Hosts encode and decode CBOR by hand into stack "
        "buffers, as a C host would (`benches/common/cbor.rs`).\n"
    )
    return "\n".join(out)


# --------------------------------------------------------------------------
# chart.svg


def write_svg(rows: list[Row], footprint: dict | None) -> str:
    """Latency bars on a log scale, each figure beside its baseline(s); then
    memory per call on a linear scale with the 256 B target."""
    colors = {"met": "#2e7d32", "missed": "#c62828", "not measured": "#9e9e9e", "—": "#1565c0"}
    baseline_color = "#b0bec5"
    width, label_w, right = 1000, 430, 90
    plot_w = width - label_w - right
    bar_h, gap, group_gap = 14, 4, 12
    lo, hi = 1.0, 1e9  # 1 ns .. 1 s

    def x_of(ns: float) -> float:
        ns = min(max(ns, lo), hi)
        return label_w + plot_w * (math.log10(ns) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    groups = [r for r in rows if r.bars]
    parts: list[str] = []
    y = 60
    body: list[str] = []
    for r in groups:
        title = r.what.replace("`", "")
        if len(title) > 120:
            title = title[:119] + "…"
        body.append(
            f'<text x="8" y="{y + 10}" class="group">{html.escape(title)}</text>'
        )
        y += 16
        for label, ns, kind, status in r.bars:
            color = colors.get(status or "—") if kind == "figure" else baseline_color
            body.append(f'<text x="{label_w - 6}" y="{y + bar_h - 3}" class="label" text-anchor="end">{html.escape(label)}</text>')
            if ns is None:
                body.append(f'<text x="{label_w + 4}" y="{y + bar_h - 3}" class="none">not measured</text>')
            else:
                x1 = x_of(ns)
                body.append(
                    f'<rect x="{label_w}" y="{y}" width="{max(x1 - label_w, 1):.1f}" height="{bar_h}" fill="{color}">'
                    f"<title>{html.escape(label)}: {html.escape(fmt_time(ns))}</title></rect>"
                )
                body.append(f'<text x="{x1 + 4:.1f}" y="{y + bar_h - 3}" class="value">{html.escape(fmt_time(ns))}</text>')
            y += bar_h + gap
        y += group_gap
    latency_bottom = y

    # Decade grid for the latency panel.
    grid: list[str] = []
    for exp in range(0, 10):
        x = x_of(10.0**exp)
        grid.append(f'<line x1="{x:.1f}" y1="44" x2="{x:.1f}" y2="{latency_bottom}" class="grid"/>')
        grid.append(f'<text x="{x:.1f}" y="40" class="axis" text-anchor="middle">{html.escape(fmt_time(10.0**exp))}</text>')

    # Memory panel.
    mem: list[str] = []
    memory = (footprint or {}).get("memory", {})
    y = latency_bottom + 40
    mem.append(f'<text x="8" y="{y}" class="title">Memory per in-flight host call (dark: reused context, judged; light: fresh context)</text>')
    y += 14
    # Leave room right of the longest bar for its value label.
    max_b = max([512.0] + [m.get("fresh_bytes_per_call", 0) for m in memory.values()]) * 1.4

    def xb(b: float) -> float:
        return label_w + plot_w * max(b, 0) / max_b

    top = y
    for key, m in memory.items():
        label = m["what"].replace("`", "")
        naive = key.startswith("naive")
        # Only the demo scenarios are judged against the target (as in the
        # table); the bench-library ones are comparisons with the naive design.
        judged = key.startswith("demo_")
        if naive:
            color = baseline_color
        elif not judged:
            color = colors["—"]
        else:
            color = colors["met"] if m["reused_bytes_per_call"] <= 256 else colors["missed"]
        mem.append(f'<text x="{label_w - 6}" y="{y + bar_h - 3}" class="label" text-anchor="end">{html.escape(label)}</text>')
        mem.append(f'<rect x="{label_w}" y="{y}" width="{xb(m["fresh_bytes_per_call"]) - label_w:.1f}" height="{bar_h}" fill="{color}" opacity="0.35"/>')
        mem.append(
            f'<rect x="{label_w}" y="{y}" width="{xb(m["reused_bytes_per_call"]) - label_w:.1f}" height="{bar_h}" fill="{color}">'
            f"<title>{html.escape(label)}: {m['reused_bytes_per_call']:.0f} B reused, {m['fresh_bytes_per_call']:.0f} B fresh</title></rect>"
        )
        mem.append(
            f'<text x="{xb(m["fresh_bytes_per_call"]) + 4:.1f}" y="{y + bar_h - 3}" class="value">'
            f"{m['reused_bytes_per_call']:.0f} B ({m['fresh_bytes_per_call']:.0f} B fresh)</text>"
        )
        y += bar_h + gap
    if not memory:
        mem.append(f'<text x="{label_w}" y="{y + bar_h - 3}" class="none">not measured</text>')
        y += bar_h + gap
    x256 = xb(256)
    mem.append(f'<line x1="{x256:.1f}" y1="{top - 4}" x2="{x256:.1f}" y2="{y}" class="target"/>')
    mem.append(f'<text x="{x256 + 3:.1f}" y="{y + 12}" class="axis">target 256 B</text>')
    height = y + 30

    legend = (
        f'<rect x="{label_w}" y="8" width="10" height="10" fill="{colors["met"]}"/><text x="{label_w + 14}" y="17" class="axis">met</text>'
        f'<rect x="{label_w + 50}" y="8" width="10" height="10" fill="{colors["missed"]}"/><text x="{label_w + 64}" y="17" class="axis">missed</text>'
        f'<rect x="{label_w + 118}" y="8" width="10" height="10" fill="{colors["—"]}"/><text x="{label_w + 132}" y="17" class="axis">no target</text>'
        f'<rect x="{label_w + 200}" y="8" width="10" height="10" fill="{baseline_color}"/><text x="{label_w + 214}" y="17" class="axis">baseline (same run)</text>'
    )
    parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">'
    )
    parts.append(
        "<style>"
        ".title{font-size:13px;font-weight:bold}.group{font-size:12px;font-weight:bold;fill:#263238}"
        ".label{font-size:11px;fill:#37474f}.value{font-size:11px;fill:#263238}.none{font-size:11px;fill:#9e9e9e;font-style:italic}"
        ".axis{font-size:10px;fill:#546e7a}.grid{stroke:#eceff1;stroke-width:1}.target{stroke:#c62828;stroke-width:1.5;stroke-dasharray:4 3}"
        "</style>"
    )
    parts.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    parts.append('<text x="8" y="17" class="title">hostcall benchmarks: median time (log scale)</text>')
    parts.append(legend)
    parts.extend(grid)
    parts.extend(body)
    parts.extend(mem)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> int:
    benches = read_criterion()
    footprint = read_footprint()
    if not benches and not footprint:
        print(
            "no results: run `cargo bench` first (looked in "
            f"{CRITERION} and {OWN})",
            file=sys.stderr,
        )
    rows = build_rows(benches, footprint)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.md").write_text(write_markdown(rows, benches, footprint))
    (OUT / "chart.svg").write_text(write_svg(rows, footprint))
    for r in rows:
        print(f"{r.what[:80]:<80}  {r.value:>14}  {r.ratio:>14}  {r.status}")
    print(f"\nwrote {OUT / 'results.md'} and {OUT / 'chart.svg'}")
    page = OUT.parent / "benchmarks.md"
    if update_page(page, rows):
        print(f"updated the table in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
