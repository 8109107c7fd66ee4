"""Prometheus metrics of blt-serve: request counts, errors, latency (histogram and live
p50/p95/p99), tokens and tokens/s, engine queue depth and batch sizes. One registry per server.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUANTILES = (0.5, 0.95, 0.99)


class SlidingWindow:
    """Recent (time, value) samples: at most ``seconds`` old and ``max_samples`` many.

    A preallocated ring of two float arrays: adding a sample allocates nothing, so memory stays at
    its bound however long the server runs and whether or not anyone scrapes /metrics (a deque of
    tuples pruned only at scrape time grew by ~100 bytes per request until it hit max_samples).

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
        self._times = np.empty(max_samples, dtype=np.float64)
        self._values = np.empty(max_samples, dtype=np.float64)
        self._next = 0  # slot the next sample goes to
        self._filled = 0
        self._lock = threading.Lock()

    def add(self, value: float, now: float | None = None) -> None:
        with self._lock:
            i = self._next
            self._times[i] = time.monotonic() if now is None else now
            self._values[i] = value
            self._next = i + 1 if i + 1 < self._times.size else 0
            if self._filled < self._times.size:
                self._filled += 1

    def values(self, now: float | None = None) -> np.ndarray:
        cutoff = (time.monotonic() if now is None else now) - self.seconds
        with self._lock:
            n = self._filled
            return self._values[:n][self._times[:n] >= cutoff]


class _LiveCollector:
    """Values read at scrape time: engine state and sliding-window statistics."""

    def __init__(self, metrics: "ServerMetrics") -> None:
        self.m = metrics

    def collect(self):
        m = self.m
        depth = GaugeMetricFamily("blt_queue_depth", "Requests waiting in the batch engine",
                                  labels=["priority"])
        for prio, n in m.abt.queue_depth().items():
            depth.add_metric([prio], n)
        yield depth

        stats = m.abt.stats()
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

        lat = m.latency_window.values()
        q = GaugeMetricFamily("blt_request_latency_quantile_seconds",
                              f"Request latency quantiles over the last {m.latency_window.seconds:g} s",
                              labels=["quantile"])
        for p in QUANTILES:
            q.add_metric([str(p)], float(np.quantile(lat, p)) if lat.size else 0.0)
        yield q

        toks = m.token_window.values()
        yield GaugeMetricFamily("blt_tokens_per_second",
                                f"Token ids returned per second over the last {m.token_window.seconds:g} s",
                                value=float(toks.sum()) / m.token_window.seconds)
        yield GaugeMetricFamily("blt_inflight_requests", "HTTP requests being handled",
                                value=m.inflight)


class ServerMetrics:
    """All metrics of one server, in their own registry (several servers can share a process)."""

    def __init__(self, abt: Any) -> None:
        self.abt = abt
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("blt_requests", "HTTP requests", ["route", "method", "status"], registry=r)
        self.errors = Counter("blt_request_errors", "HTTP responses with status >= 400",
                              ["route", "status"], registry=r)
        self.latency = Histogram("blt_request_latency_seconds", "HTTP request latency", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("blt_tokens", "Token ids returned", registry=r)
        self.rejected_connections = Counter("blt_rejected_connections",
                                            "Connections refused over max_connections", registry=r)
        self.latency_window = SlidingWindow(60.0)
        self.token_window = SlidingWindow(10.0)
        self.inflight = 0
        self._children: dict[tuple, tuple] = {}
        r.register(_LiveCollector(self))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children_for(key)
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)
        self.latency_window.add(seconds)

    def _children_for(self, key: tuple) -> tuple:
        # labels() hashes and validates its arguments on every call; the children it returns are
        # kept per (route, method, status), a set no larger than the label sets themselves.
        route, method, status = key
        children = (self.requests.labels(route, method, str(status)),
                    self.errors.labels(route, str(status)) if status >= 400 else None,
                    self.latency.labels(route))
        self._children[key] = children
        return children

    def count_tokens(self, n: int) -> None:
        self.tokens.inc(n)
        self.token_window.add(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
