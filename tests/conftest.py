"""Fixtures that start real Kafka clusters (harness.cluster).

- `zk_cluster` / `kraft_cluster`: one 3-broker cluster (ids 1, 2, 3) per session, started on first use.
  Tests may inject faults into them: after each such test every broker is thawed/restarted (`heal()`).
- `cluster_factory(mode, ids, racks=None, broker_config=None)`: throwaway clusters, stopped after the test;
  `cluster_factory.start(cluster)` starts one the test built itself.

Tests using any of them get the `cluster` marker automatically (`-m "not cluster"` skips them). When such a
test fails, the report includes the log tails of its brokers.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Literal, TypeVar, overload

import pytest

from harness.cluster import Cluster, ConfigValue, KraftCluster, Mode, ZkCluster
from harness.jars import KafkaVersion

CLUSTER_FIXTURES = frozenset({"zk_cluster", "kraft_cluster", "cluster_factory"})
_SHARED = ("zk_cluster", "kraft_cluster")
C = TypeVar("C", bound=Cluster)


class ClusterFactory:
    """Starts clusters for one test and stops all of them at teardown."""

    def __init__(self) -> None:
        self.clusters: list[Cluster] = []

    @overload
    def __call__(
        self,
        mode: Literal["zookeeper"],
        ids: Sequence[int],
        racks: Mapping[int, str] | None = None,
        broker_config: Mapping[str, ConfigValue] | None = None,
        version: KafkaVersion = "3.9",
    ) -> ZkCluster: ...

    @overload
    def __call__(
        self,
        mode: Literal["kraft"],
        ids: Sequence[int],
        racks: Mapping[int, str] | None = None,
        broker_config: Mapping[str, ConfigValue] | None = None,
    ) -> KraftCluster: ...

    def __call__(
        self,
        mode: Mode,
        ids: Sequence[int],
        racks: Mapping[int, str] | None = None,
        broker_config: Mapping[str, ConfigValue] | None = None,
        version: KafkaVersion = "3.9",
    ) -> Cluster:
        cluster: Cluster
        if mode == "zookeeper":
            cluster = ZkCluster(ids, racks, broker_config, version)
        elif mode == "kraft":
            cluster = KraftCluster(ids, racks, broker_config)
        else:
            raise ValueError(f"mode must be 'zookeeper' or 'kraft', got {mode!r}")
        self.clusters.append(cluster)
        return cluster.start()

    def start(self, cluster: C) -> C:
        """Start a cluster the test built itself (e.g. with secured listeners) and stop it at teardown."""
        self.clusters.append(cluster)
        return cluster.start()

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for cluster in self.clusters:
            try:
                cluster.stop()
            except Exception as exc:  # stop the others anyway
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection sees the items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for title, text in _log_sections(item):
            report.sections.append((title, text))
    return report


def _clusters_of(item: pytest.Item) -> list[Cluster]:
    funcargs: dict[str, object] = getattr(item, "funcargs", {})
    clusters = [c for name in _SHARED if isinstance(c := funcargs.get(name), Cluster)]
    factory = funcargs.get("cluster_factory")
    if isinstance(factory, ClusterFactory):
        clusters.extend(factory.clusters)
    return clusters


def _log_sections(item: pytest.Item) -> list[tuple[str, str]]:
    sections = []
    for cluster in _clusters_of(item):
        if not cluster.started:
            continue
        for broker_id in cluster.broker_ids:
            sections.append((f"{cluster.mode} broker {broker_id} log tail", cluster.log_tail(broker_id, 30)))
        if isinstance(cluster, ZkCluster):
            sections.append(("zookeeper log tail", cluster.zookeeper_log_tail(20)))
    return sections


@pytest.fixture(scope="session")
def zk_cluster() -> Iterator[ZkCluster]:
    with ZkCluster([1, 2, 3]) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def kraft_cluster() -> Iterator[KraftCluster]:
    with KraftCluster([1, 2, 3]) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _heal_shared_clusters(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give the next test intact shared clusters even if this one killed, froze or stopped something."""
    yield
    for name in _SHARED:
        cluster = request.node.funcargs.get(name)
        if isinstance(cluster, Cluster):
            if cluster.started:
                cluster.heal()
            else:  # a test stopped the whole cluster
                cluster.start()


@pytest.fixture
def cluster_factory() -> Iterator[ClusterFactory]:
    factory = ClusterFactory()
    try:
        yield factory
    finally:
        factory.stop_all()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite tests/unit/golden.prom from the current code"
    )
