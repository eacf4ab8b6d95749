"""Configuration: YAML, strict, with `${ENV}` interpolation for secrets.

Every field has a default except each cluster's `bootstrap_servers`. Unknown keys and wrong types are
errors that name the field and the fix (a ConfigError, turned into exit code 2 by the CLI).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from exporter.clients import KAFKA_PYTHON_EQUIVALENT, LIBRDKAFKA_ONLY, unsupported

T = TypeVar("T")


class ConfigError(Exception):
    """A user-caused configuration problem; the message names the field and what is expected."""


@dataclass(frozen=True)
class ZooKeeperSaslConfig:
    """SASL to a ZooKeeper that requires it (the Client section of a broker's JAAS file)."""

    username: str
    # The password, or a file holding it (e.g. a mounted secret; one trailing newline is dropped).
    password: str | None = field(default=None, repr=False)
    password_file: str | None = None
    mechanism: str = "DIGEST-MD5"


@dataclass(frozen=True)
class ZooKeeperTlsConfig:
    """TLS to ZooKeeper's secureClientPort (connect must name that port)."""

    ca_file: str | None = None  # None: the system's CAs
    # Mutual TLS: the client certificate and its key (PEM), and the key's password if it is encrypted.
    cert_file: str | None = None
    key_file: str | None = None
    key_password: str | None = field(default=None, repr=False)
    key_password_file: str | None = None
    check_hostname: bool = True


@dataclass(frozen=True)
class ZooKeeperConfig:
    # host:port[,host:port][/chroot], as Kafka's zookeeper.connect.
    connect: str
    timeout_seconds: float = 5.0
    sasl: ZooKeeperSaslConfig | None = None
    tls: ZooKeeperTlsConfig | None = None


@dataclass(frozen=True)
class CollectionConfig:
    interval_seconds: float = 30.0
    # Deadline for one whole cycle; what has not answered by then is recorded as an error.
    timeout_seconds: float = 20.0
    # Timeout of each single request to Kafka or ZooKeeper.
    request_timeout_seconds: float = 10.0
    # Random delay added to each interval so several exporters do not hit a cluster in lockstep.
    jitter_seconds: float = 1.0


@dataclass(frozen=True)
class TopicPolicy:
    """A per-topic override of the desired replication factor and min.insync.replicas.
    Give exactly one of `name` (exact topic name) or `regex` (matched against the whole name)."""

    name: str | None = None
    regex: str | None = None
    replication_factor: int | None = None
    min_insync_replicas: int | None = None


@dataclass(frozen=True)
class PolicyConfig:
    """What the team decided. The defaults catch the seed's failure: RF-1 topics and missing min ISR."""

    # Desired replication factor; capped at the number of live brokers.
    replication_factor: int = 3
    min_insync_replicas: int = 2
    # Overrides, first match wins.
    topics: tuple[TopicPolicy, ...] = ()
    # Regexes (whole name) of topics the policy ignores.
    exclude_topics: tuple[str, ...] = ()
    # Broker ids that should be live; empty means "not checked" unless expected_broker_count is set.
    expected_brokers: tuple[int, ...] = ()
    expected_broker_count: int | None = None
    # Broker settings that must have these values, e.g. {"auto.create.topics.enable": "false"}.
    broker_settings: dict[str, str] = field(
        default_factory=lambda: {"auto.create.topics.enable": "false", "unclean.leader.election.enable": "false"}
    )


@dataclass(frozen=True)
class LagConfig:
    """Consumer lag: which groups and topics, how many series, how much history."""

    enabled: bool = True
    # Regexes matched against the whole group id / topic name. Empty include lists include everything;
    # exclude wins over include. Filtered groups cost no requests beyond ListGroups.
    include_groups: tuple[str, ...] = ()
    exclude_groups: tuple[str, ...] = ()
    include_topics: tuple[str, ...] = ()
    exclude_topics: tuple[str, ...] = ()
    # Per-partition series (committed offset, lag, lag seconds; high watermark, log start). Above
    # max_partition_series of them, a cycle exposes per-topic series only.
    per_partition: bool = True
    max_partition_series: int = 50000
    # The verdict (ok, lagging, stalled, stopped, rewound) judges this much history of each group.
    verdict_window_seconds: float = 600.0
    # History of (time, high watermark) per partition for lag in seconds: how far back, and how many samples
    # a partition keeps at most (samples closer than history_seconds / history_samples are merged). Verdicts
    # keep no samples: each group partition holds its last values and the time of each kind of change.
    history_seconds: float = 3600.0
    history_samples: int = 120
    # Group requests in flight at once, and groups per DescribeGroups / OffsetFetch request.
    max_concurrent_requests: int = 4
    groups_per_request: int = 200


@dataclass(frozen=True)
class ReassignmentConfig:
    """When a moving partition counts as stalled."""

    # An adding replica outside the ISR that copied less than min_progress_bytes_per_second on average over
    # this window is stalled. The window should span several collection intervals.
    stall_window_seconds: float = 300.0
    min_progress_bytes_per_second: float = 1024.0


@dataclass(frozen=True)
class ProbeConfig:
    """The write probe (concern "probe", opt-in: `concerns: {probe: true}`). The exporter creates and manages
    `topic`: one partition led by each live broker, written with acks=all and read back every cycle."""

    topic: str = "kafka-cluster-exporter-probe"
    # Replicas per probe partition and the topic's min.insync.replicas; None: the policy's (RF capped at the
    # live brokers, min ISR at RF), so a failing probe write is what a policy-conforming topic suffers.
    replication_factor: int | None = None
    min_insync_replicas: int | None = None
    # A replica on a broker absent this long is moved to a live broker (a retired broker must not leave the
    # probe under-replicated for good); a broker absent for less is restarting, and its replicas stay.
    replace_absent_after_seconds: float = 900.0


@dataclass(frozen=True)
class ClusterConfig:
    bootstrap_servers: str
    # Name of the cluster: selects it with /metrics?cluster=NAME. Required when several clusters are listed.
    name: str = "default"
    # librdkafka setting names (security.protocol, sasl.*, ssl.*); both client libraries get them (exporter/clients.py).
    # Secrets from files: sasl.password_file, ssl.key.password_file (read at start into sasl.password, ...).
    client: dict[str, str] = field(default_factory=dict, repr=False)
    zookeeper: ZooKeeperConfig | None = None
    collection: CollectionConfig = field(default_factory=CollectionConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    reassignment: ReassignmentConfig = field(default_factory=ReassignmentConfig)
    lag: LagConfig = field(default_factory=LagConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    # Concerns to switch on or off (exporter/concerns.py), e.g. {lag: false}: not collected where they need
    # their own requests, not computed, not exposed. Every concern is on by default but those in OPT_IN.
    concerns: dict[str, bool] = field(default_factory=dict)

    def concern_on(self, name: str) -> bool:
        return self.concerns.get(name, name not in OPT_IN)


@dataclass(frozen=True)
class WebConfig:
    listen_address: str = "0.0.0.0:9340"


@dataclass(frozen=True)
class Config:
    clusters: tuple[ClusterConfig, ...]
    web: WebConfig = field(default_factory=WebConfig)
    log_level: str = "info"


# The concerns of exporter/concerns.py, in its order (the registry checks that the two agree).
CONCERN_NAMES = ("cluster", "replication", "brokers", "controller", "lag", "reassignment", "probe")
# Concerns off unless switched on: the probe writes to the cluster.
OPT_IN = frozenset({"probe"})
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_LOG_LEVELS = ("debug", "info", "warning", "error")


def _expand_env(value: str, path: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set (set it, or write ${{{name}:-default}})")

    return _ENV.sub(sub, value)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is dict:
        return "a mapping of strings"
    if origin is tuple:
        return "a list"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path)
    if dataclasses.is_dataclass(tp):
        return _build(typing.cast(type, tp), value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {type(value).__name__}")
        out: dict[str, Any] = {}
        if typing.get_args(tp)[1:] == (bool,):
            for k, raw in value.items():
                out[str(k)] = _convert(bool, raw, f"{path}.{k}")
            return out
        for k, raw in value.items():
            v = ("true" if raw else "false") if isinstance(raw, bool) else raw
            if not isinstance(v, str | int | float):
                raise ConfigError(f"{path}.{k}: expected a string or number, got {type(v).__name__}")
            out[str(k)] = _expand_env(str(v), f"{path}.{k}")
        return out
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        if not math.isfinite(value):  # YAML's .nan and .inf (or 1e400) pass every comparison check
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return _expand_env(value, path)
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # a bug in this module, not user input


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(fields))}"
            raise ConfigError(f"{_join(path, str(key))}: unknown key{hint}")
    kwargs = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{sub}: required key is missing")
    return cls(**kwargs)


def parse_section(cls: type[T], data: Any, path: str) -> T:
    """A dataclass from a mapping, as strictly as the main config (for files of other formats: web config)."""
    return typing.cast(T, _build(cls, data, path))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate(cfg: Config) -> None:
    if not cfg.clusters:
        raise ConfigError("clusters: list at least one cluster with its bootstrap_servers")
    names = [c.name for c in cfg.clusters]
    for i, c in enumerate(cfg.clusters):
        if names.count(c.name) > 1:
            raise ConfigError(f"clusters[{i}].name: '{c.name}' is used twice; give each cluster a unique name")
        if not c.bootstrap_servers.strip():
            raise ConfigError(f"clusters[{i}].bootstrap_servers: must list at least one host:port")
        col = c.collection
        if col.interval_seconds <= 0:
            raise ConfigError(f"clusters[{i}].collection.interval_seconds: must be > 0")
        if col.timeout_seconds <= 0:
            raise ConfigError(f"clusters[{i}].collection.timeout_seconds: must be > 0")
        if col.request_timeout_seconds <= 0 or col.request_timeout_seconds > col.timeout_seconds:
            raise ConfigError(
                f"clusters[{i}].collection.request_timeout_seconds: must be > 0 and not above timeout_seconds"
            )
        _validate_policy(c.policy, f"clusters[{i}].policy")
        if c.reassignment.stall_window_seconds < c.collection.interval_seconds * 2:
            raise ConfigError(
                f"clusters[{i}].reassignment.stall_window_seconds: must span at least two collection intervals "
                f"({c.collection.interval_seconds * 2:g}s)"
            )
        if c.reassignment.min_progress_bytes_per_second < 0:
            raise ConfigError(f"clusters[{i}].reassignment.min_progress_bytes_per_second: must not be negative")
        _validate_lag(c.lag, f"clusters[{i}].lag")
        _validate_probe(c.probe, f"clusters[{i}].probe")
        for key in unsupported(c.client):
            raise ConfigError(
                f"clusters[{i}].client.{key}: kafka-python, which makes most of the exporter's requests, cannot "
                "honour this setting; remove it (settings it honours: "
                f"{', '.join(sorted(KAFKA_PYTHON_EQUIVALENT))}; settings only librdkafka needs: "
                f"{', '.join(sorted(LIBRDKAFKA_ONLY))})"
            )
        for name in c.concerns:
            if name not in CONCERN_NAMES:
                close = difflib.get_close_matches(name, CONCERN_NAMES, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"concerns are {', '.join(CONCERN_NAMES)}"
                raise ConfigError(f"clusters[{i}].concerns.{name}: unknown concern; {hint}")
    if cfg.log_level not in _LOG_LEVELS:
        raise ConfigError(f"log_level: expected one of {', '.join(_LOG_LEVELS)}, got {cfg.log_level!r}")
    _host, sep, port = cfg.web.listen_address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"web.listen_address: expected host:port (e.g. 0.0.0.0:9340), got {cfg.web.listen_address!r}")


def _validate_regex(pattern: str, path: str) -> None:
    try:
        re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"{path}: not a valid regular expression: {e}") from None


def _validate_probe(c: ProbeConfig, path: str) -> None:
    # Kafka's topic name rule (org.apache.kafka.common.internals.Topic).
    if not re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", c.topic) or c.topic in (".", ".."):
        raise ConfigError(f"{path}.topic: {c.topic!r} is not a valid Kafka topic name (letters, digits, '.', '_', '-')")
    if c.replication_factor is not None and c.replication_factor < 1:
        raise ConfigError(f"{path}.replication_factor: must be at least 1 (or left out for the policy's)")
    if c.min_insync_replicas is not None and c.min_insync_replicas < 1:
        raise ConfigError(f"{path}.min_insync_replicas: must be at least 1 (or left out for the policy's)")
    if c.replace_absent_after_seconds < 0:
        raise ConfigError(f"{path}.replace_absent_after_seconds: must not be negative")


def _validate_lag(c: LagConfig, path: str) -> None:
    for key in ("include_groups", "exclude_groups", "include_topics", "exclude_topics"):
        for j, rx in enumerate(getattr(c, key)):
            _validate_regex(rx, f"{path}.{key}[{j}]")
    if c.max_partition_series < 0:
        raise ConfigError(f"{path}.max_partition_series: must be 0 or more")
    if c.verdict_window_seconds <= 0:
        raise ConfigError(f"{path}.verdict_window_seconds: must be > 0")
    if c.history_seconds <= 0:
        raise ConfigError(f"{path}.history_seconds: must be > 0")
    if c.history_samples < 2:
        raise ConfigError(f"{path}.history_samples: must be at least 2 (lag in seconds interpolates between two)")
    if c.max_concurrent_requests < 1:
        raise ConfigError(f"{path}.max_concurrent_requests: must be at least 1")
    if c.groups_per_request < 1:
        raise ConfigError(f"{path}.groups_per_request: must be at least 1")


def _validate_policy(p: PolicyConfig, path: str) -> None:
    if p.replication_factor < 1:
        raise ConfigError(f"{path}.replication_factor: must be at least 1")
    if p.min_insync_replicas < 1:
        raise ConfigError(f"{path}.min_insync_replicas: must be at least 1")
    for j, t in enumerate(p.topics):
        where = f"{path}.topics[{j}]"
        if (t.name is None) == (t.regex is None):
            raise ConfigError(f"{where}: give exactly one of 'name' (exact topic) or 'regex'")
        if t.regex is not None:
            _validate_regex(t.regex, f"{where}.regex")
        for key in ("replication_factor", "min_insync_replicas"):
            v = getattr(t, key)
            if v is not None and v < 1:
                raise ConfigError(f"{where}.{key}: must be at least 1")
    for j, rx in enumerate(p.exclude_topics):
        _validate_regex(rx, f"{path}.exclude_topics[{j}]")
    if p.expected_broker_count is not None and p.expected_broker_count < 1:
        raise ConfigError(f"{path}.expected_broker_count: must be at least 1")


def parse_config(data: Any) -> Config:
    if data is None:
        raise ConfigError("config: the file is empty; list at least one cluster under 'clusters:'")
    cfg = typing.cast(Config, _build(Config, data, ""))
    cfg = dataclasses.replace(
        cfg, clusters=tuple(_read_secrets(c, f"clusters[{i}]") for i, c in enumerate(cfg.clusters))
    )
    _validate(cfg)
    return cfg


# Secrets a config may name by file (a mounted Kubernetes secret) instead of writing them in: file key -> setting.
CLIENT_SECRET_FILES = {"sasl.password_file": "sasl.password", "ssl.key.password_file": "ssl.key.password"}


def _secret_file(path: str, field_path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise ConfigError(f"{field_path}: cannot read the secret file {path}: {reason}") from None
    return text[:-1] if text.endswith("\n") else text


def _read_secrets(c: ClusterConfig, path: str) -> ClusterConfig:
    """Secrets named by file, read once at start: the config then holds them as if written in."""
    client = dict(c.client)
    for file_key, key in CLIENT_SECRET_FILES.items():
        if file_key in client:
            if key in client:
                raise ConfigError(f"{path}.client.{file_key}: give {key} or {file_key}, not both")
            client[key] = _secret_file(client.pop(file_key), f"{path}.client.{file_key}")
    zk = c.zookeeper
    if zk is not None and zk.sasl is not None:
        sasl, where = zk.sasl, f"{path}.zookeeper.sasl"
        if (sasl.password is None) == (sasl.password_file is None):
            raise ConfigError(f"{where}.password: give password or password_file (one of them)")
        if sasl.mechanism.upper() != "DIGEST-MD5":
            raise ConfigError(f"{where}.mechanism: only DIGEST-MD5 is supported, got {sasl.mechanism!r}")
        if sasl.password_file is not None:
            password = _secret_file(sasl.password_file, f"{where}.password_file")
            zk = dataclasses.replace(zk, sasl=dataclasses.replace(sasl, password=password, password_file=None))
    if zk is not None and zk.tls is not None:
        tls, where = zk.tls, f"{path}.zookeeper.tls"
        if (tls.cert_file is None) != (tls.key_file is None):
            raise ConfigError(f"{where}.key_file: mutual TLS needs cert_file and key_file (both or neither)")
        if tls.key_password is not None and tls.key_password_file is not None:
            raise ConfigError(f"{where}.key_password_file: give key_password or key_password_file, not both")
        if tls.key_password_file is not None:
            password = _secret_file(tls.key_password_file, f"{where}.key_password_file")
            zk = dataclasses.replace(zk, tls=dataclasses.replace(tls, key_password=password, key_password_file=None))
    return dataclasses.replace(c, client=client, zookeeper=zk)


def load_config(path: str | Path) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    return parse_config(data)
