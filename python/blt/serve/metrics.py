"""Prometheus metrics of blt-serve: request counts, errors, latency (histogram and live
p50/p95/p99), tokens and tokens/s, engine queue depth and batch sizes.

A scrape renders a snapshot of plain numbers (:meth:`ServerMetrics.snapshot`). With
``--workers N`` the worker scraped gathers every worker's snapshot through the supervisor and
renders their sum (:func:`merge_snapshots`): the counters stay plain Python numbers on the hot
path, which prometheus_client's multiprocess mode (a file-backed value per Counter update, and no
custom collectors) would not allow.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any, Callable, Dict, Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString as _untyped_float_to_go_string

# prometheus_client leaves this helper unannotated; its type, for the typed code below.
floatToGoString: Callable[[float], str] = _untyped_float_to_go_string

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUANTILES = (0.5, 0.95, 0.99)


class SlidingWindow:
    """Recent (time, value) samples: at most ``seconds`` old and ``max_samples`` many.

    A preallocated ring of two float arrays: adding a sample allocates nothing, and the arrays are
    written in full at construction (empty slots are infinitely old), so the server's memory is at
    its bound from the start however long it runs and whether or not anyone scrapes /metrics (a
    deque of tuples pruned only at scrape time grew by ~100 bytes per request until it hit
    max_samples).

    >>> from blt.serve.metrics import SlidingWindow
    >>> w = SlidingWindow(seconds=10, max_samples=3)
    >>> for t, v in [(0, 1.0), (5, 2.0), (6, 3.0), (7, 4.0)]:
    ...     w.add(v, now=t)
    >>> sorted(w.values(now=12).tolist())  # three slots: the fourth sample replaced the first
    [2.0, 3.0, 4.0]
    >>> sorted(w.values(now=15.5).tolist())  # older than 10 s: left out
    [3.0, 4.0]
    """

    def __init__(self, seconds: float = 60.0, max_samples: int = 100_000) -> None:
        self.seconds = seconds
        self._times = np.full(max_samples, -np.inf)
        self._values = np.full(max_samples, 0.0)
        self._next = 0  # slot the next sample goes to
        self._lock = threading.Lock()

    def add(self, value: float, now: float | None = None) -> None:
        with self._lock:
            i = self._next
            self._times[i] = time.monotonic() if now is None else now
            self._values[i] = value
            self._next = i + 1 if i + 1 < self._times.size else 0

    def values(self, now: float | None = None) -> np.ndarray:
        cutoff = (time.monotonic() if now is None else now) - self.seconds
        with self._lock:
            return self._values[self._times >= cutoff]


class _SnapshotCollector:
    """Every family, from one :meth:`ServerMetrics.snapshot`, or several merged by
    :func:`merge_snapshots` (the workers of ``blt-serve --workers N``). Request counts and
    latencies are plain Python numbers updated on the event loop: a prometheus-client Counter or
    Histogram takes a lock and (for a histogram) walks its buckets in Python on every update,
    which showed up in profiles of the request loop."""

    def __init__(self, snapshot: Dict[str, Any]) -> None:
        self.s = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.s
        requests = CounterMetricFamily("blt_requests", "HTTP requests", labels=["route", "method", "status"])
        errors = CounterMetricFamily("blt_request_errors", "HTTP responses with status >= 400",
                                     labels=["route", "status"])
        error_counts: dict[tuple[str, str], int] = {}
        for (route, method, status), n in s["requests"].items():
            requests.add_metric([route, method, str(status)], n)
            if status >= 400:
                error_counts[(route, str(status))] = error_counts.get((route, str(status)), 0) + n
        for labels, n in error_counts.items():
            errors.add_metric(list(labels), n)
        yield requests
        yield errors
        latency = HistogramMetricFamily("blt_request_latency_seconds", "HTTP request latency",
                                        labels=["route"])
        for route, (counts, total) in s["latency"].items():
            cum, buckets = 0, []
            for bound, c in zip(LATENCY_BUCKETS, counts):
                cum += c
                buckets.append((floatToGoString(bound), cum))
            buckets.append(("+Inf", cum + counts[-1]))
            latency.add_metric([route], buckets, sum_value=total)
        yield latency
        yield CounterMetricFamily("blt_tokens", "Token ids returned", value=s["tokens"])
        if "queue_depth" not in s:
            return  # requests only (render_requests)
        yield CounterMetricFamily("blt_rejected_connections", "Connections refused over max_connections",
                                  value=s["rejected_connections"])
        yield GaugeMetricFamily("blt_workers", "Server processes whose metrics are summed here",
                                value=s["workers"])
        depth = GaugeMetricFamily("blt_queue_depth", "Requests waiting in the batch engine",
                                  labels=["priority"])
        for prio, n in s["queue_depth"].items():
            depth.add_metric([prio], n)
        yield depth

        stats = s["engine"]
        if stats:
            bounds, counts = stats["batch_size_bounds"], stats["batch_size_counts"]
            cum, buckets = 0, []
            for b, c in zip(bounds, counts):
                cum += c
                buckets.append((str(float(b)), cum))
            buckets.append(("+Inf", cum + counts[-1]))
            yield HistogramMetricFamily("blt_batch_size", "Requests per encoded batch",
                                        buckets=buckets, sum_value=stats["batched_requests"])
            for key in ("rejected", "timed_out", "cancelled"):
                yield CounterMetricFamily(f"blt_engine_{key}", f"Engine requests {key}",
                                          value=stats[key])
            yield GaugeMetricFamily("blt_engine_inflight_batches", "Batches being encoded",
                                    value=stats["inflight_batches"])

        lat = s["latency_samples"]
        q = GaugeMetricFamily("blt_request_latency_quantile_seconds",
                              f"Request latency quantiles over the last {s['latency_window_s']:g} s",
                              labels=["quantile"])
        for p in QUANTILES:
            q.add_metric([str(p)], float(np.quantile(lat, p)) if lat.size else 0.0)
        yield q
        yield GaugeMetricFamily("blt_tokens_per_second",
                                f"Token ids returned per second over the last {s['token_window_s']:g} s",
                                value=s["token_sum"] / s["token_window_s"])
        yield GaugeMetricFamily("blt_inflight_requests", "HTTP requests being handled",
                                value=s["inflight"])


def _merge_engine(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    if not a or not b:
        return dict(a or b)
    out = dict(a)
    for k, v in b.items():
        if k == "batch_size_bounds":
            continue  # the same bounds in every process
        if isinstance(v, (list, tuple)):
            out[k] = [x + y for x, y in zip(a[k], v)]
        elif isinstance(v, (int, float)):
            out[k] = a.get(k, 0) + v
    return out


def merge_snapshots(snapshots: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """One snapshot of several processes: counts, histograms and gauges summed, the latency
    windows pooled (the quantiles are those of all requests, not an average of quantiles).

    >>> import blt
    >>> from blt.serve.metrics import ServerMetrics, merge_snapshots
    >>> a, b = ServerMetrics(blt.AsyncBatchTokenizer()), ServerMetrics(blt.AsyncBatchTokenizer())
    >>> a.observe("/v1/tokenize", "POST", 200, 0.001)
    >>> b.observe("/v1/tokenize", "POST", 200, 0.003)
    >>> merged = merge_snapshots([a.snapshot(), b.snapshot()])
    >>> merged["requests"], merged["workers"], merged["latency_samples"].size
    ({('/v1/tokenize', 'POST', 200): 2}, 2, 2)
    """
    if not snapshots:
        raise ValueError("merge_snapshots needs at least one snapshot")
    out = dict(snapshots[0])
    out["requests"] = dict(out["requests"])
    out["latency"] = {r: (list(c), t) for r, (c, t) in out["latency"].items()}
    out["queue_depth"] = dict(out["queue_depth"])
    for s in snapshots[1:]:
        for key, n in s["requests"].items():
            out["requests"][key] = out["requests"].get(key, 0) + n
        for route, (counts, total) in s["latency"].items():
            mine, my_total = out["latency"].get(route, ([0] * len(counts), 0.0))
            out["latency"][route] = ([x + y for x, y in zip(mine, counts)], my_total + total)
        for prio, n in s["queue_depth"].items():
            out["queue_depth"][prio] = out["queue_depth"].get(prio, 0) + n
        out["engine"] = _merge_engine(out["engine"], s["engine"])
        for key in ("tokens", "rejected_connections", "workers", "token_sum", "inflight"):
            out[key] = out[key] + s[key]
    out["latency_samples"] = np.concatenate([s["latency_samples"] for s in snapshots])
    return out


def render_snapshot(snapshot: Dict[str, Any]) -> bytes:
    """The Prometheus text exposition of a snapshot (one process's or merged)."""
    registry = CollectorRegistry()
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)


class _RouteLatency:
    """Latency histogram of one route: counts per bucket (the last is +Inf) and their sum."""

    __slots__ = ("counts", "total")

    def __init__(self, counts: list[int], total: float) -> None:
        self.counts = counts
        self.total = total


class ServerMetrics:
    """All metrics of one server, in their own registry (several servers can share a process).

    ``observe`` and ``count_tokens`` are meant for the server's event loop thread.
    """

    def __init__(self, abt: Any) -> None:
        self.abt = abt
        self.rejected_connections = 0
        self.latency_window = SlidingWindow(60.0)
        self.token_window = SlidingWindow(10.0)
        self.inflight = 0
        self._requests: dict[tuple[str, str, int], int] = {}  # (route, method, status) -> count
        self._latency: dict[str, _RouteLatency] = {}
        self._tokens = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency.

        >>> from blt.serve.metrics import ServerMetrics
        >>> m = ServerMetrics(None)
        >>> m.observe("/v1/tokenize", "POST", 200, 0.0015)
        >>> m.observe("/v1/tokenize", "POST", 400, 0.2)
        >>> text = m.render_requests().decode()
        >>> 'blt_requests_total{method="POST",route="/v1/tokenize",status="200"} 1.0' in text
        True
        >>> 'blt_request_errors_total{route="/v1/tokenize",status="400"} 1.0' in text
        True
        >>> 'blt_request_latency_seconds_bucket{le="0.002",route="/v1/tokenize"} 1.0' in text
        True
        >>> 'blt_request_latency_seconds_bucket{le="0.25",route="/v1/tokenize"} 2.0' in text
        True
        """
        key = (route, method, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        hist = self._latency.get(route)
        if hist is None:
            hist = self._latency[route] = _RouteLatency([0] * (len(LATENCY_BUCKETS) + 1), 0.0)
        hist.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # buckets are "<= bound"
        hist.total += seconds
        self.latency_window.add(seconds)

    def count_tokens(self, n: int) -> None:
        self._tokens += n
        self.token_window.add(n)

    def reject_connection(self) -> None:
        """Count a connection refused over max_connections."""
        self.rejected_connections += 1

    def snapshot(self, *, requests_only: bool = False) -> Dict[str, Any]:
        """This process's numbers as plain data (picklable, for :func:`merge_snapshots`); with
        ``requests_only`` just the request, latency and token counts (no engine state needed)."""
        out: Dict[str, Any] = {
            "requests": dict(self._requests), "tokens": self._tokens,
            "latency": {r: (list(h.counts), h.total) for r, h in list(self._latency.items())}}
        if requests_only:
            return out
        toks = self.token_window.values()
        out.update(
            rejected_connections=self.rejected_connections, workers=1, inflight=self.inflight,
            queue_depth=self.abt.queue_depth(), engine=self.abt.stats(),
            latency_samples=self.latency_window.values().copy(),
            latency_window_s=self.latency_window.seconds,
            token_sum=float(toks.sum()), token_window_s=self.token_window.seconds)
        return out

    def render(self) -> bytes:
        """The Prometheus text exposition of this process."""
        return render_snapshot(self.snapshot())

    def render_requests(self) -> bytes:
        """Only the request, error, latency and token families (no engine state needed)."""
        return render_snapshot(self.snapshot(requests_only=True))
