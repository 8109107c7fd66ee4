"""blt-serve configuration: defaults, then an optional YAML file, then BLT_SERVE_* environment
variables, then command-line flags (each overrides the one before).

A YAML file (``--config serve.yaml`` or ``BLT_SERVE_CONFIG``) holds any ServeConfig fields::

    host: 0.0.0.0
    port: 8080
    max_batch_size: 64
    max_wait_ms: 2
    queue_capacity: 1024
    request_timeout_s: 30
    idle_timeout_s: 30         # a request head must arrive within this of connecting or the last answer
    stream_idle_timeout_s: 30  # longest stall of a streamed upload, or of a reader of its events
    max_body_bytes: 16777216
    max_connections: 1024
    rate_limit_rps: 100        # per client (X-Client-Id header, else peer address); 0: off
    rate_limit_burst: 200
    admin_token: change-me     # or BLT_SERVE_ADMIN_TOKEN; admin routes are off without one
    drain_timeout_s: 10
    workers: 2                 # processes on the port (SO_REUSEPORT), each with its own engine
    log_level: info
    vocab_dir: /data/vocab     # NAME.tiktoken files for encoding:NAME (else $BLT_VOCAB_DIR)
    page: true                 # GET / shows how a text is split (POST /v1/inspect)
    entropy_model: model.bin   # offers an entropy patcher on the page
    tokenizers:
      - {name: bytes, version: 1, spec: bytes}
      - {name: bytes_text, version: 1, spec: "bytes:content_type=text,strip_bom=true"}
      - {name: cl100k_base, version: 1, spec: "encoding:cl100k_base"}

Environment variables are the upper-case field names with the BLT_SERVE_ prefix
(``BLT_SERVE_MAX_BATCH_SIZE=32``); ``BLT_SERVE_TOKENIZERS`` and ``--tokenizers`` take
``name@version=spec;name@version=spec``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

ENV_PREFIX = "BLT_SERVE_"


@dataclass
class TokenizerConfig:
    """One tokenizer to load at start: ``name@version`` built from ``spec``."""

    name: str
    version: str
    spec: str
    activate: Optional[bool] = None


@dataclass
class ServeConfig:
    """Every blt-serve setting with its default.

    >>> from blt.serve.config import ServeConfig
    >>> c = ServeConfig()
    >>> c.port, c.max_batch_size, [t.spec for t in c.tokenizers]
    (8080, 64, ['bytes'])
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    flush_each_tick: bool = True  # send what one event-loop iteration submitted without waiting
    queue_capacity: int = 1024
    threads: int = 0
    request_timeout_s: float = 30.0
    # A connection is closed when no complete request head arrives within this many seconds of
    # connecting or of its last answer: idle keep-alive connections and clients that trickle
    # their headers both hold a connection slot (max_connections) until then.
    idle_timeout_s: float = 30.0
    # /v1/tokenize_stream has no overall deadline (an upload may be large); instead each wait for
    # the next piece of the body, and for the client to take the next event, is bounded by this.
    stream_idle_timeout_s: float = 30.0
    max_body_bytes: int = 16 << 20
    max_stream_bytes: int = 1 << 30
    stream_segment_bytes: int = 1 << 20
    max_connections: int = 1024
    rate_limit_rps: float = 0.0  # per client; 0 disables rate limiting
    rate_limit_burst: int = 0  # 0: same as rate_limit_rps (at least 1)
    admin_token: Optional[str] = None  # admin routes are off without one
    tokenizers: list[TokenizerConfig] = field(
        default_factory=lambda: [TokenizerConfig("bytes", "1", "bytes")])
    default_tokenizer: Optional[str] = None
    # Folder of NAME.tiktoken rank files for encoding:NAME specs (then $BLT_VOCAB_DIR, tiktoken's cache).
    vocab_dir: Optional[str] = None
    page: bool = True  # the page at / that shows tokens and patches (and /v1/inspect, /v1/patchers)
    entropy_model: Optional[str] = None  # an EntropyModel.save file: adds the page's entropy patcher
    log_level: str = "info"
    access_log: bool = True
    drain_timeout_s: float = 10.0
    dtype: str = "uint32"
    # Python's GIL switch interval for the server process. Engine threads take the GIL to hand
    # results to the event loop; with CPython's default 5 ms they can wait that long behind a busy
    # loop, which dominated latency under load. 0 keeps the interpreter's setting.
    switch_interval_ms: float = 0.5
    # Server processes sharing the port (SO_REUSEPORT), each with its own engine, under one
    # supervisor (blt.serve.supervisor); 1 serves from the process started.
    workers: int = 1

    def validate(self) -> "ServeConfig":
        """Raise ValueError naming the first bad field; returns self."""
        positive = ("max_batch_size", "queue_capacity", "max_body_bytes", "max_stream_bytes",
                    "stream_segment_bytes", "max_connections", "request_timeout_s", "idle_timeout_s",
                    "stream_idle_timeout_s")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"config {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_wait_ms", "rate_limit_rps", "rate_limit_burst", "drain_timeout_s",
                     "switch_interval_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"config {name} must be >= 0, got {getattr(self, name)!r}")
        if not 1 <= self.workers <= 256:
            raise ValueError(f"config workers must be in 1..256, got {self.workers!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"config port must be in 0..65535, got {self.port}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError(f"config log_level must be debug, info, warning or error, got {self.log_level!r}")
        if self.dtype not in ("uint16", "uint32", "int32", "int64"):
            raise ValueError(f"config dtype must be uint16, uint32, int32 or int64, got {self.dtype!r}")
        if not self.tokenizers:
            raise ValueError("config tokenizers: at least one tokenizer is required")
        return self


_FIELDS = {f.name: f for f in dataclasses.fields(ServeConfig)}


def _convert(name: str, value: Any) -> Any:
    kind = _FIELDS[name].type
    if name == "tokenizers":
        return _tokenizers(value)
    if value is None:
        return None
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"config {name}: cannot read {value!r} as {kind}") from None


def _tokenizers(value: Any) -> list[TokenizerConfig]:
    """From YAML (list of mappings) or a string ``name@version=spec;name@version=spec``."""
    out = []
    if isinstance(value, str):
        for item in filter(None, (s.strip() for s in value.split(";"))):
            ref, eq, spec = item.partition("=")
            name, at, version = ref.partition("@")
            if not eq or not at:
                raise ValueError(f"config tokenizers: expected name@version=spec, got {item!r}")
            out.append(TokenizerConfig(name.strip(), version.strip(), spec.strip()))
        return out
    if not isinstance(value, list):
        raise ValueError("config tokenizers must be a list of {name, version, spec}")
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not {"name", "spec"} <= set(item):
            raise ValueError(f"config tokenizers[{i}] needs name and spec (and version)")
        unknown = set(item) - {"name", "version", "spec", "activate"}
        if unknown:
            raise ValueError(f"config tokenizers[{i}]: unknown field(s) {sorted(unknown)}")
        out.append(TokenizerConfig(str(item["name"]), str(item.get("version", "1")), str(item["spec"]),
                                   item.get("activate")))
    return out


def _from_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as e:
        raise OSError(f"cannot read config file {path}: {e.strerror}") from e
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of settings")
    unknown = set(data) - set(_FIELDS)
    if unknown:
        raise ValueError(f"config file {path}: unknown setting(s) {sorted(unknown)}")
    return data


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="blt-serve", description="HTTP tokenization server (bltok)")
    p.add_argument("--config", help="YAML file of settings (also BLT_SERVE_CONFIG)")
    for f in dataclasses.fields(ServeConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "tokenizers":
            p.add_argument(flag, dest=f.name, metavar="NAME@VERSION=SPEC;...",
                           help="tokenizers to load, e.g. 'bytes@1=bytes;bytes@2=bytes:content_type=text'")
        elif f.type == "bool":
            p.add_argument(flag, dest=f.name, choices=("true", "false"))
        else:
            p.add_argument(flag, dest=f.name)
    return p


def load_config(argv: Optional[Sequence[str]] = None,
                environ: Optional[Mapping[str, str]] = None) -> ServeConfig:
    """Settings from defaults, YAML file, BLT_SERVE_* environment and flags, validated.

    >>> from blt.serve.config import load_config
    >>> c = load_config(["--port", "9000"], environ={"BLT_SERVE_PORT": "1", "BLT_SERVE_MAX_WAIT_MS": "5"})
    >>> c.port, c.max_wait_ms
    (9000, 5.0)
    """
    env_vars: Mapping[str, str] = os.environ if environ is None else environ
    args = parser().parse_args(argv)
    values: dict[str, Any] = {}
    path = args.config or env_vars.get(ENV_PREFIX + "CONFIG")
    if path:
        values.update(_from_yaml(path))
    for name in _FIELDS:
        env = env_vars.get(ENV_PREFIX + name.upper())
        if env is not None and env != "":
            values[name] = env
    for name in _FIELDS:
        v = getattr(args, name)
        if v is not None:
            values[name] = v
    cfg = ServeConfig(**{k: _convert(k, v) for k, v in values.items()})
    return cfg.validate()
