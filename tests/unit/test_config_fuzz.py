"""Hostile configuration: whatever a config file or a web config file holds, loading it either succeeds or fails
with a ConfigError naming a field (exit 2), never another exception (a traceback)."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import (
    CollectionConfig,
    Config,
    ConfigError,
    LagConfig,
    PolicyConfig,
    ProbeConfig,
    ReassignmentConfig,
    load_config,
    parse_config,
)
from exporter.web_config import WebSecurity, load_web_config


def field_names(cls: type, seen: set[type] | None = None) -> set[str]:
    """Every key of the config's dataclasses, so generated mappings hit real fields, not only unknown keys."""
    seen = seen if seen is not None else set()
    if cls in seen:
        return set()
    seen.add(cls)
    out = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        out.add(f.name)
        for t in (hints[f.name], *typing.get_args(hints[f.name])):
            for inner in (t, *typing.get_args(t)):
                if dataclasses.is_dataclass(inner):
                    out |= field_names(typing.cast(type, inner), seen)
    return out


KEYS = sorted(field_names(Config) | field_names(WebSecurity) | {"probe", "lag", "x", "", "${X}"})
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["${UNSET_VAR}", "${HOME:-x}", "127.0.0.1:9092", "[", "TLS13", "$2b$10$x", "-1", "1e400"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.integers(), st.booleans()), inner, max_size=5),
    ),
    max_leaves=25,
)


NUMBERS = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 0, -1, 0.0001, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
)


def section(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping with the section's own keys, numbers (any: negative, huge, NaN, infinite) for its numeric
    fields and any scalar for the others: mostly well-formed, so values get past the key checks and reach the
    value checks."""
    hints = typing.get_type_hints(cls)
    numeric = {float, int, float | None, int | None}
    return st.fixed_dictionaries(
        {}, optional={f.name: NUMBERS if hints[f.name] in numeric else SCALARS for f in dataclasses.fields(cls)}
    )


SECTION_TYPES: dict[str, type] = {
    "collection": CollectionConfig,
    "lag": LagConfig,
    "reassignment": ReassignmentConfig,
    "probe": ProbeConfig,
    "policy": PolicyConfig,
}
SECTIONS = {name: section(cls) for name, cls in SECTION_TYPES.items()}
CLUSTER = st.fixed_dictionaries({"bootstrap_servers": st.just("127.0.0.1:9092")}, optional=SECTIONS)
GARBLED_CLUSTER = st.fixed_dictionaries(
    {"bootstrap_servers": st.one_of(st.just("127.0.0.1:9092"), SCALARS)},
    optional={k: VALUES for k in KEYS if k != "bootstrap_servers"},
)
DOCUMENTS = st.one_of(
    VALUES,
    st.fixed_dictionaries({"clusters": st.lists(CLUSTER, min_size=1, max_size=2)}),
    st.fixed_dictionaries({"clusters": st.lists(GARBLED_CLUSTER, max_size=2)}),
    st.fixed_dictionaries(
        {"clusters": st.one_of(st.lists(GARBLED_CLUSTER, max_size=3), VALUES)},
        optional={k: VALUES for k in KEYS if k != "clusters"},
    ),
)


@settings(max_examples=120, deadline=None)
@given(DOCUMENTS)
def test_any_config_document_loads_or_names_a_field(data: Any) -> None:
    try:
        cfg = parse_config(data)
    except ConfigError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), repr(str(e))
        return
    # What loads is usable: every number the exporter computes with is finite.
    for c in cfg.clusters:
        for section in (c.collection, c.lag, c.reassignment, c.probe):
            for f in dataclasses.fields(section):
                v = getattr(section, f.name)
                assert not isinstance(v, float) or math.isfinite(v), (f.name, v)


FIELDS = [(name, f.name) for name, cls in SECTION_TYPES.items() for f in dataclasses.fields(cls)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), st.one_of(NUMBERS, SCALARS))
def test_any_single_value_loads_usable_or_names_a_field(where: tuple[str, str], value: Any) -> None:
    """One field at a time, everything else at its default: a value is refused with a one-line message, or
    what loads is usable (finite numbers)."""
    name, key = where
    try:
        cfg = parse_config({"clusters": [{"bootstrap_servers": "k:9092", name: {key: value}}]})
    except ConfigError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), repr(str(e))
        return
    got = getattr(getattr(cfg.clusters[0], name), key)
    assert not isinstance(got, float) or math.isfinite(got), (name, key, got)


def test_non_finite_numbers_are_refused() -> None:
    for bad in (float("nan"), float("inf")):
        data = {"clusters": [{"bootstrap_servers": "k:9092", "collection": {"interval_seconds": bad}}]}
        try:
            parse_config(data)
        except ConfigError as e:
            assert "clusters[0].collection.interval_seconds: expected a finite number" in str(e)
        else:
            raise AssertionError(f"{bad} accepted")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True))))
def test_any_file_text_loads_or_names_a_field(tmp_path: Path, text: str) -> None:
    """The same through the files: YAML that does not parse, binary-ish text, any structure."""
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    for load in (load_config, load_web_config):
        try:
            load(path)
        except ConfigError as e:
            assert str(e).strip(), repr(str(e))
