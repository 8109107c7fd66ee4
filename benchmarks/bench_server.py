"""blt-serve under load on loopback: requests/s, tokens/s and p50/p95/p99 latency for 64-byte and
4 KB POST /v1/tokenize bodies at several concurrency levels, with batching (max_batch_size=64) and
without (max_batch_size=1). Closed-loop load from wrk; then wrk paced at half the batching
server's peak rate for the p99 target; then the engine alone in process. Writes its RESULTS.md
section.

    python benchmarks/bench_server.py [--duration 4] [--concurrency 8,64,256] [--sizes 64,4096]

Processes: blt-serve --workers N (cl100k_base) against the same route written with FastAPI and
tiktoken on uvicorn --workers N (benchmarks/_fastapi_tiktoken.py), 64 B and 4 KB JSON bodies, 256
clients, with the CPU each side and wrk used; writes the ``bench_server_processes`` section:

    python benchmarks/bench_server.py --processes 1,2 [--sizes 64,4096] [--clients 256] [--duration 5]

Soak (a benchmark, not CI): find the batching server's peak, drive it at 80% of that with paced wrk
for SECONDS while sampling its resident memory (VmRSS) and its error counter, and write the
``bench_server_soak`` section:

    python benchmarks/bench_server.py --soak 600 [--sizes 64] [--duration 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import CORPUS, VOCAB, git_rev, machine, write_section  # noqa: E402

# An aiohttp server that only echoes the body (benchmarks/_bare_aiohttp.py): per-request HTTP cost.
BARE = "bare aiohttp echo"

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


PACED = """
-- Each connection waits about connections/rate seconds between requests (exponential gaps).
local mean_ms = {mean_ms}
delay = function()
  return math.floor(-math.log(1 - math.random()) * mean_ms)
end
"""


def payload(size: int) -> bytes:
    text = (CORPUS / "en_prose.txt").read_bytes() if (CORPUS / "en_prose.txt").exists() else b"lorem ipsum " * 1000
    return text[10_000:10_000 + size]


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM (a server drains and exits), then SIGKILL if it is still there after `timeout` s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    """blt-serve in a child process; with bare=True the echo-only aiohttp server instead."""

    def __init__(self, max_batch_size: int, max_wait_ms: float, bare: bool = False) -> None:
        if bare:
            self.cmd = [sys.executable, str(Path(__file__).resolve().parent / "_bare_aiohttp.py")]
        else:
            self.cmd = [sys.executable, "-m", "blt.serve.server", "--max-batch-size", str(max_batch_size),
                        "--max-wait-ms", str(max_wait_ms), "--queue-capacity", "4096",
                        "--max-connections", "4096", "--access-log", "false", "--log-level", "warning",
                        "--port", "0"]

    def __enter__(self) -> "Server":
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            m = re.search(r"listening on http://[\d.]+:(\d+)", line)
            if m:
                self.url = f"http://127.0.0.1:{m.group(1)}"
                return self
        raise RuntimeError("server did not start")

    def __exit__(self, *exc) -> None:
        stop_process(self.proc, 30)


def wrk_command(url: str, script: str, concurrency: int, duration: float, threads: int = 1) -> list[str]:
    return ["wrk", "-t", str(min(threads, concurrency)), "-c", str(concurrency),
            "-d", f"{max(1, round(duration))}s", "--timeout", "10s", "-s", script, url + "/v1/tokenize"]


def wrk_script(body_path: str, concurrency: int, rate: float,
               content_type: str = "application/octet-stream") -> str:
    """A temporary wrk Lua script (POST the body; with rate > 0, paced to about rate req/s)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(body=body_path, content_type=content_type))
        if rate > 0:
            f.write(PACED.format(mean_ms=concurrency * 1000.0 / rate))
        return f.name


def run_wrk(url: str, body_path: str, concurrency: int, duration: float, threads: int = 1,
            rate: float = 0.0, content_type: str = "application/octet-stream") -> dict:
    script = wrk_script(body_path, concurrency, rate, content_type)
    try:
        out = subprocess.run(wrk_command(url, script, concurrency, duration, threads),
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    n, dur_us, p50, p95, p99, bad_status, sock_err = map(int, m.groups())
    return {"requests": n, "rps": n / (dur_us / 1e6), "p50": p50 / 1e3, "p95": p95 / 1e3,
            "p99": p99 / 1e3, "errors": bad_status + sock_err}


async def engine_only(body: bytes, max_batch_size: int, clients: int, duration: float) -> float:
    """Requests/s of AsyncBatchTokenizer alone: `clients` coroutines encoding back to back."""
    import blt

    done = 0
    async with blt.AsyncBatchTokenizer(max_batch_size=max_batch_size, max_wait_ms=2.0,
                                       queue_capacity=4096) as abt:
        loop = asyncio.get_running_loop()
        end = loop.time() + duration

        async def client() -> None:
            nonlocal done
            while loop.time() < end:
                await abt.encode(body)
                done += 1

        t0 = loop.time()
        await asyncio.gather(*(client() for _ in range(clients)))
        return done / (loop.time() - t0)


def rss_kib(pid: int) -> int:
    """Resident set size of a process from /proc/PID/status (VmRSS, KiB)."""
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1))


def server_errors(url: str) -> int:
    """Responses with status >= 400 so far, from the server's own /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return round(sum(float(v) for v in re.findall(r"^blt_request_errors_total\{[^}]*\} (\S+)", text, re.M)))


def slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time, MiB per minute."""
    if len(samples) < 2:
        return 0.0
    ts = [t for t, _ in samples]
    ms = [kib / 1024 for _, kib in samples]
    mt, mm = statistics.fmean(ts), statistics.fmean(ms)
    den = sum((t - mt) ** 2 for t in ts)
    return 60.0 * sum((t - mt) * (m - mm) for t, m in zip(ts, ms)) / den if den else 0.0


def soak(args: argparse.Namespace) -> None:
    """Peak of the batching server, then paced load at 80% of it for args.soak seconds."""
    size = int(args.sizes.split(",")[0])
    levels = [int(c) for c in args.concurrency.split(",")]
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    # Many paced connections: each spends a request's latency on top of its gap, and with long
    # gaps that costs the offered rate less.
    conns = 256
    with tempfile.TemporaryDirectory() as tmp, Server(64, args.max_wait_ms) as srv:
        body_path = os.path.join(tmp, f"body{size}")
        Path(body_path).write_bytes(payload(size))
        run_wrk(srv.url, body_path, 8, 1.0)  # warm-up
        peak = max(run_wrk(srv.url, body_path, c, args.duration)["rps"] for c in levels)
        target = 0.8 * peak
        # Paced connections also spend the latency of each request, so the offered rate falls
        # short of the asked one: calibrate on two short runs.
        asked = target
        for _ in range(2):
            probe = run_wrk(srv.url, body_path, conns, 2.0, rate=asked)
            if probe["rps"] >= 0.97 * target:
                break
            asked *= min(1.25, target / max(probe["rps"], 1.0))
        print(f"soak: {size} B bodies, peak {peak:.0f} req/s, target {target:.0f} req/s "
              f"(wrk asked {asked:.0f}) for {args.soak:g} s", flush=True)
        pid = srv.proc.pid
        errors_before = server_errors(srv.url)
        script = wrk_script(body_path, conns, asked)
        samples: list[tuple[float, int]] = []
        try:
            t0 = time.monotonic()
            wrk = subprocess.Popen(wrk_command(srv.url, script, conns, args.soak), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            while wrk.poll() is None:
                samples.append((time.monotonic() - t0, rss_kib(pid)))
                try:
                    wrk.wait(args.soak_interval)
                except subprocess.TimeoutExpired:
                    pass
            samples.append((time.monotonic() - t0, rss_kib(pid)))
            out, err = wrk.communicate()
            if wrk.returncode != 0:
                sys.exit(f"wrk failed: {err.strip()}")
        finally:
            os.unlink(script)
        errors_server = server_errors(srv.url) - errors_before
    r = parse_wrk(out)
    start_rss, end_rss = samples[0][1] / 1024, samples[-1][1] / 1024
    mid_rss = min(samples, key=lambda s: abs(s[0] - samples[-1][0] / 2))[1] / 1024
    half = [x for x in samples if x[0] >= samples[-1][0] / 2]
    slope_all, slope_half = slope_mib_per_min(samples), slope_mib_per_min(half)
    growth_half = slope_half * (half[-1][0] - half[0][0]) / 60 if len(half) > 1 else 0.0
    flat = growth_half <= max(1.0, 0.01 * mid_rss)
    errors = r["errors"] + errors_server
    verdict = ("flat memory" if flat else "memory still growing") + (", no errors" if errors == 0 else f", {errors} errors")
    lines = ["## bench_server soak: blt-serve at 80% of peak", "",
             f"`python benchmarks/bench_server.py --soak {args.soak:g} --sizes {size} --duration {args.duration:g}`"
             f" (rev {git_rev()}, {time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine()}; load average before the run: {load}. Batching server (max_batch_size=64, "
             f"max_wait_ms={args.max_wait_ms:g}), {size} B bodies. Peak: best closed-loop wrk rate over "
             f"{args.concurrency} clients ({args.duration:g} s each) = {peak:,.0f} req/s; soak: wrk with {conns} "
             f"connections paced at 80% of peak for {args.soak:g} s; VmRSS of the server sampled every "
             f"{args.soak_interval:g} s.", "",
             "| target req/s | achieved req/s | share of peak | requests | p50 ms | p99 ms | wrk errors | server 4xx/5xx |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {target:,.0f} | {r['rps']:,.0f} | {r['rps'] / peak:.0%} | {r['requests']:,} | {r['p50']:.2f} | {r['p99']:.2f} | "
             f"{r['errors']} | {errors_server} |", "",
             "| RSS start MiB | RSS middle MiB | RSS end MiB | slope, whole run | slope, second half |",
             "|---:|---:|---:|---:|---:|",
             f"| {start_rss:.1f} | {mid_rss:.1f} | {end_rss:.1f} | {slope_all:+.3f} MiB/min | "
             f"{slope_half:+.3f} MiB/min |", "",
             f"Verdict: {verdict} (flat: growth over the second half <= max(1 MiB, 1% of the middle RSS); "
             f"it grew {growth_half:+.2f} MiB).", "",
             "RSS samples (s: MiB): " + ", ".join(f"{t:.0f}: {kib / 1024:.1f}" for t, kib in samples)]
    write_section("bench_server_soak", "\n".join(lines))
    print("\n".join(lines))


# -- processes: blt-serve --workers N against FastAPI + tiktoken on uvicorn --workers N ---------------
PEER = "FastAPI + tiktoken (uvicorn)"
BLT = "blt-serve (cl100k_base)"
BENCH_DIR = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those still running)."""
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and iowait since boot (/proc/stat)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


class ProcessServer:
    """blt-serve --workers N (cl100k_base) or the FastAPI + tiktoken app on uvicorn --workers N."""

    def __init__(self, kind: str, processes: int, log_dir: str) -> None:
        self.kind, self.processes = kind, processes
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(log_dir, f"{'blt' if kind == BLT else 'peer'}{processes}.log")
        if kind == BLT:
            self.cmd = [sys.executable, "-m", "blt.serve.server", "--workers", str(processes),
                        "--tokenizers", "cl100k_base@1=encoding:cl100k_base", "--vocab-dir", str(VOCAB),
                        "--queue-capacity", "4096", "--max-connections", "4096", "--access-log", "false",
                        "--log-level", "warning", "--port", str(self.port)]
        else:
            self.cmd = [sys.executable, "-m", "uvicorn", "_fastapi_tiktoken:app", "--workers", str(processes),
                        "--port", str(self.port), "--log-level", "warning", "--no-access-log",
                        "--backlog", "4096"]

    def __enter__(self) -> "ProcessServer":
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, stderr=self.log, stdout=self.log, cwd=BENCH_DIR)
        body = b'{"text": "warm up"}'
        for _ in range(1200):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: {Path(self.log_path).read_text()[-2000:]}")
            try:
                req = urllib.request.Request(self.url + "/v1/tokenize", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # let every worker of the pool finish starting
        return self

    def cpu(self) -> float:
        return cpu_seconds(tree_pids(self.proc.pid))

    def __exit__(self, *exc) -> None:
        stop_process(self.proc, 60)
        self.log.close()


def measured_wrk(srv: ProcessServer, body_path: str, clients: int, seconds: int) -> dict:
    """One closed-loop wrk slice, with the CPU the server, wrk and everything else used in it."""
    srv_cpu, busy = srv.cpu(), machine_busy_seconds()
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = run_wrk(srv.url, body_path, clients, seconds, content_type="application/json")
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r["server_cores"] = (srv.cpu() - srv_cpu) / seconds
    r["wrk_cores"] = ((wrk_after.ru_utime + wrk_after.ru_stime)
                      - (wrk_before.ru_utime + wrk_before.ru_stime)) / seconds
    r["other_cores"] = max(0.0, (machine_busy_seconds() - busy) / seconds - r["server_cores"] - r["wrk_cores"])
    return r


def processes_section(args: argparse.Namespace) -> None:
    """1 vs N processes of blt-serve and of the FastAPI peer, JSON bodies, args.clients clients."""
    counts = [int(n) for n in args.processes.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    slices, slice_s = max(1, round(args.duration)), args.slice_seconds
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    configs = [(kind, n) for n in counts for kind in (BLT, PEER)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {c: stack.enter_context(ProcessServer(c[0], c[1], tmp)) for c in configs}
        for size in sizes:
            body_path = os.path.join(tmp, f"body{size}.json")
            Path(body_path).write_text(json.dumps({"text": payload(size).decode("utf-8", "ignore")}))
            for srv in servers.values():
                run_wrk(srv.url, body_path, 8, 1.0, content_type="application/json")  # warm-up
            got: dict = {c: [] for c in configs}
            # Alternated slices: outside load on the shared machine falls on every configuration.
            for _ in range(slices):
                for c in configs:
                    got[c].append(measured_wrk(servers[c], body_path, args.clients, slice_s))
            for c in configs:
                r = {k: statistics.median(x[k] for x in got[c])
                     for k in ("rps", "p50", "p99", "server_cores", "wrk_cores", "other_cores")}
                r["errors"] = sum(x["errors"] for x in got[c])
                # CPU per request: what the server costs whatever else the shared machine runs.
                r["cpu_us"] = statistics.median(x["server_cores"] / x["rps"] * 1e6 for x in got[c])
                rows[(c, size)] = r
                print(f"{c[0]:30} x{c[1]} {size:5} B: {r['rps']:8.0f} req/s  p50 {r['p50']:.2f} p99 {r['p99']:.2f} ms"
                      f"  cores: server {r['server_cores']:.2f} wrk {r['wrk_cores']:.2f} other {r['other_cores']:.2f}"
                      f"  errors {r['errors']}", flush=True)
    load_after = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    lines = ["## bench_server_processes: blt-serve --workers N against FastAPI + tiktoken on uvicorn", "",
             f"`python benchmarks/bench_server.py --processes {args.processes} --sizes {args.sizes} "
             f"--clients {args.clients} --duration {args.duration:g} --slice-seconds {slice_s}` "
             f"(rev {git_rev()}, {time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine()}; load average (1, 5, 15 min) before: {load}, after: {load_after} "
             "(the machine is shared with other work). "
             f"blt-serve: `--workers N --tokenizers cl100k_base@1=encoding:cl100k_base`. Peer: "
             "`benchmarks/_fastapi_tiktoken.py` (FastAPI, a pydantic body model, `async def` calling "
             "tiktoken's cl100k_base `encode`) on `uvicorn --workers N` with uvloop and httptools. "
             f"Both get the same JSON body `{{\"text\": ...}}` (corpus prose) from wrk -t1 with {args.clients} "
             f"closed-loop connections; the {len(configs)} servers run side by side and are alternated "
             f"in {slice_s} s slices, medians of {slices} slices. CPU columns: cores used during the "
             "slices by the server's processes, by wrk, and by everything else on the machine; server CPU "
             "per request is the server's CPU time over its requests (medians over slices).", "",
             "| server | processes | body | requests/s | p50 ms | p99 ms | server CPU µs per request | server cores | wrk cores | other cores | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        for c in configs:
            r = rows[(c, size)]
            lines.append(f"| {c[0]} | {c[1]} | {size} B | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                         f"{r['cpu_us']:.0f} | {r['server_cores']:.2f} | {r['wrk_cores']:.2f} | "
                         f"{r['other_cores']:.2f} | {r['errors']} |")
    lo, hi = min(counts), max(counts)
    lines += ["", f"Scaling, requests/s at {hi} processes over {lo} (target for blt-serve: >= 1.7x at {hi}):", ""]
    for size in sizes:
        lines.append(f"- {size} B: blt-serve {rows[((BLT, hi), size)]['rps'] / rows[((BLT, lo), size)]['rps']:.2f}x, "
                     f"peer {rows[((PEER, hi), size)]['rps'] / rows[((PEER, lo), size)]['rps']:.2f}x")
    lines += ["", "blt-serve over the peer at the same number of processes (target: >= 2x):", ""]
    for size in sizes:
        lines.append(f"- {size} B: " + ", ".join(
            f"{n} process{'es' if n > 1 else ''} {rows[((BLT, n), size)]['rps'] / rows[((PEER, n), size)]['rps']:.2f}x"
            for n in counts))
    write_section("bench_server_processes", "\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--concurrency", default="8,64,256")
    ap.add_argument("--sizes", default="64,4096")
    ap.add_argument("--max-wait-ms", type=float, default=2.0)
    ap.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                    help="soak instead of the tables: SECONDS at 80%% of peak, sampling RSS and errors")
    ap.add_argument("--soak-interval", type=float, default=5.0, metavar="SECONDS",
                    help="seconds between RSS samples during --soak")
    ap.add_argument("--processes", default="", metavar="N,M",
                    help="instead of the tables: blt-serve --workers N against FastAPI + tiktoken on "
                         "uvicorn --workers N, for each N (e.g. 1,2)")
    ap.add_argument("--clients", type=int, default=256, help="connections for --processes")
    ap.add_argument("--slice-seconds", type=int, default=2, help="wrk slice length for --processes")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (Debian package wrk)")
    if args.processes:
        processes_section(args)
        return
    if args.soak > 0:
        soak(args)
        return
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())  # other work on a shared machine
    levels = [int(c) for c in args.concurrency.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, peak = [], {}
    modes = (("batching (64)", 64), ("no batching (1)", 1), (BARE, 0))
    with tempfile.TemporaryDirectory() as tmp, Server(64, args.max_wait_ms) as batched, \
            Server(1, args.max_wait_ms) as unbatched, Server(0, 0, bare=True) as bare:
        servers = {"batching (64)": batched, "no batching (1)": unbatched, BARE: bare}
        for size in sizes:
            body_path = os.path.join(tmp, f"body{size}")
            Path(body_path).write_bytes(payload(size))
            for srv in servers.values():
                run_wrk(srv.url, body_path, 8, 1.0)  # warm-up
            for c in levels:
                # The machine is shared: alternate the servers in 1 s slices and keep medians,
                # so a burst of outside load does not land on one configuration only.
                slices = {mode: [] for mode, _ in modes}
                for _ in range(max(1, round(args.duration))):
                    for mode, _ in modes:
                        slices[mode].append(run_wrk(servers[mode].url, body_path, c, 1.0))
                for mode, _ in modes:
                    r = {k: statistics.median(x[k] for x in slices[mode])
                         for k in ("rps", "p50", "p95", "p99")}
                    r.update(errors=sum(x["errors"] for x in slices[mode]), mode=mode, size=size, c=c,
                             tps=None if mode == BARE else r["rps"] * (size + 2))
                    rows.append(r)
                    peak[(mode, size)] = max(peak.get((mode, size), 0.0), r["rps"])
                    print(f"{mode:16} {size:5} B c={c:4}: {r['rps']:8.0f} req/s  p50 {r['p50']:.2f}"
                          f"  p95 {r['p95']:.2f}  p99 {r['p99']:.2f} ms  errors {r['errors']}", flush=True)
        half = {}
        for size in sizes:
            body_path = os.path.join(tmp, f"body{size}")
            rate = peak[("batching (64)", size)] / 2
            half[size] = run_wrk(batched.url, body_path, 64, args.duration, rate=rate)
            h = half[size]
            print(f"half peak {size} B at {rate:.0f} req/s: achieved {h['rps']:.0f}, p50 {h['p50']:.2f}"
                  f" p95 {h['p95']:.2f} p99 {h['p99']:.2f} ms, errors {h['errors']}", flush=True)
    engine = {}
    for size in sizes:
        for mbs in (64, 1):
            engine[(size, mbs)] = asyncio.run(engine_only(payload(size), mbs, max(levels), args.duration))
            print(f"engine only {size} B max_batch_size={mbs}: {engine[(size, mbs)]:.0f} req/s", flush=True)

    lines = ["## bench_server: blt-serve over loopback HTTP", "",
             f"`python benchmarks/bench_server.py --duration {args.duration:g} --concurrency {args.concurrency}"
             f" --sizes {args.sizes}` (rev {git_rev()}, {time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine()}. Server: one aiohttp process, ByteTokenizer `bytes@1`; '{BARE}' is an "
             "aiohttp app whose one handler returns the request body (no middleware, no tokenizer), "
             "the floor of per-request cost for any aiohttp server; "
             f"max_wait_ms={args.max_wait_ms:g}; load: wrk -t1 (closed loop) on the same machine, batching and non-batching servers alternated in 1 s slices (medians of {max(1, round(args.duration))} slices); load average before the run: {load}.", "",
             "| server | body | clients | requests/s | tokens/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        tps = "-" if r["tps"] is None else f"{r['tps']:,.0f}"
        lines.append(f"| {r['mode']} | {r['size']} B | {r['c']} | {r['rps']:,.0f} | {tps} | "
                     f"{r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['errors']} |")
    def rps(mode: str, size: int) -> float:
        return next(r["rps"] for r in rows if r["mode"] == mode and r["size"] == size and r["c"] == max(levels))

    lines += ["", f"Batching speed-up at {max(levels)} clients (requests/s, batching / no batching): " + ", ".join(
        f"{s} B: {rps('batching (64)', s) / rps('no batching (1)', s):.2f}x" for s in sizes), "",
        f"Ceiling of that ratio with aiohttp, at {max(levels)} clients: the echo server's requests/s over "
        "the non-batching server's, i.e. the speed-up if batching made tokenization and all of blt-serve's "
        "own per-request work free: " + ", ".join(
            f"{s} B: {rps(BARE, s) / rps('no batching (1)', s):.2f}x" for s in sizes), "",
        "At half the batching server's peak rate (wrk, 64 connections paced by exponential gaps of "
        "64/rate s; latency from send):", "",
        "| body | target req/s | achieved req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|"]
    for s in sizes:
        h = half[s]
        lines.append(f"| {s} B | {peak[('batching (64)', s)] / 2:,.0f} | {h['rps']:,.0f} | {h['p50']:.2f} | "
                     f"{h['p95']:.2f} | {h['p99']:.2f} | {h['errors']} |")
    lines += ["", f"Engine alone (AsyncBatchTokenizer in process, {max(levels)} coroutines, no HTTP), requests/s:", "",
              "| body | max_batch_size=64 | max_batch_size=1 | ratio |", "|---:|---:|---:|---:|"]
    for s in sizes:
        lines.append(f"| {s} B | {engine[(s, 64)]:,.0f} | {engine[(s, 1)]:,.0f} | {engine[(s, 64)] / engine[(s, 1)]:.2f}x |")
    write_section("bench_server", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
