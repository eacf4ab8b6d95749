"""Generates the Grafana dashboards in dashboards/*.json with grafana-foundation-sdk.

    python -m dashboards.generate          # rewrite dashboards/*.json
    python -m dashboards.generate --check  # exit 1 when the committed JSON differs from what this generates

Every panel reads the Prometheus data source chosen in the `datasource` variable and the cluster chosen in
`cluster` (the target label that says which Kafka cluster a series belongs to). Queries aggregate
`by (...)` the labels they show, so two exporter replicas watching one cluster draw one line, not two.

Each query also says when it has data (`Query.presence`); tests/integration/test_alerting_live.py runs every
query against a real Prometheus and requires data from those marked "always" and "configured".
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig, VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    BigValueTextMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VisibilityMode,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT_DIR = Path(__file__).resolve().parent
TAG = "kafka-cluster-exporter"
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
C = 'cluster="$cluster"'  # the selector every query starts from

# When a query returns data:
#   always:     on any cluster the exporter reaches (with at least one topic);
#   configured: once the exporter has what the query needs: policy.expected_brokers, the ZooKeeper connection
#               of a ZooKeeper-mode cluster, a consumer group that commits offsets;
#   event:      only while something happens (a reassignment, a throttle, a failure, a mode-specific fact).
Presence = Literal["always", "configured", "event"]

# The units panels may use (Grafana unit ids).
UNITS = frozenset({"short", "none", "s", "bytes", "Bps", "cps", "percentunit", "bool_yes_no"})

# Values Grafana would put in for the dashboards' variables, for running the queries outside Grafana.
TEST_VARIABLES: Mapping[str, str] = {"group": ".*", "topic": ".*", "__rate_interval": "1m", "__interval": "15s"}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    presence: Presence = "always"


@dataclass(frozen=True)
class PanelQuery:
    """One query as a dashboard runs it (for the static and live checks)."""

    dashboard: str  # file name
    panel: str
    query: Query


def expand(expr: str, variables: Mapping[str, str]) -> str:
    """Replace Grafana's $var / ${var} with values, as Grafana does before sending the query."""

    def value(m: re.Match[str]) -> str:
        return variables[m.group(1) or m.group(2)]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


class Board:
    """A dashboard under construction: panels flow left to right in rows of 24 columns."""

    def __init__(self, file: str, uid: str, title: str, description: str) -> None:
        self.file = file
        self.queries: list[PanelQuery] = []
        self._id = 0
        self.builder = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags([TAG, "kafka"])
            .editable()
            .timezone("browser")
            .time("now-6h", "now")
            .refresh("30s")
            .tooltip(dm.DashboardCursorSync.CROSSHAIR)
            .link(
                dashboard.DashboardLink("Kafka dashboards")
                .type(dm.DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            )
            .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
            .with_variable(
                dashboard.QueryVariable("cluster")
                .label("Cluster")
                .description("The `cluster` label of the exporter's scrape target.")
                .datasource(DS)
                .query("label_values(kafka_exporter_collection_cycles_total, cluster)")
                .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
                .sort(dm.VariableSort.ALPHABETICAL_ASC)
            )
        )

        self.annotation(
            "Critical alerts",
            Query(f'ALERTS{{{C}, alertstate="firing", severity="critical"}}', presence="event"),
            "red",
        )

    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def variable(self, name: str, label: str, query: str) -> None:
        """A multi-value variable with "All" (matching everything, also values that appear later)."""
        self.builder.with_variable(
            dashboard.QueryVariable(name)
            .label(label)
            .datasource(DS)
            .query(query)
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )

    def row(self, title: str) -> None:
        self.builder.with_row(dashboard.Row(title).id(self._next_id()))

    def _register(self, title: str, queries: Sequence[Query]) -> list[prometheus.Dataquery]:
        targets = []
        for i, q in enumerate(queries):
            self.queries.append(PanelQuery(self.file, title, q))
            t = prometheus.Dataquery().expr(q.expr).ref_id(chr(ord("A") + i)).datasource(DS)
            if q.legend:
                t = t.legend_format(q.legend)
            targets.append(t)
        return targets

    def stat(
        self,
        title: str,
        description: str,
        unit: str,
        queries: Sequence[Query],
        *,
        width: int = 4,
        height: int = 4,
        red_at: float | None = None,
        yellow_at: float | None = None,
    ) -> None:
        steps = [dm.Threshold(None, "green")]
        if yellow_at is not None:
            steps.append(dm.Threshold(yellow_at, "yellow"))
        if red_at is not None:
            steps.append(dm.Threshold(red_at, "red"))
        p = (
            stat.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(width)
            .height(height)
            .color_mode(BigValueColorMode.BACKGROUND if len(steps) > 1 else BigValueColorMode.NONE)
            .graph_mode(BigValueGraphMode.NONE)
            .text_mode(BigValueTextMode.AUTO)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .thresholds(dashboard.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps))
        )
        for t in self._register(title, queries):
            p = p.with_target(t.instant().format(PromQueryFormat.TIME_SERIES))
        self.builder.with_panel(p)

    def timeseries(
        self,
        title: str,
        description: str,
        unit: str,
        queries: Sequence[Query],
        *,
        width: int = 12,
        height: int = 8,
        stacked: bool = False,
        minimum: float | None = 0,
    ) -> None:
        p = (
            timeseries.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(width)
            .height(height)
            .fill_opacity(20 if stacked else 5)
            .show_points(VisibilityMode.NEVER)
            .legend(
                VizLegendOptions()
                .display_mode(LegendDisplayMode.TABLE)
                .placement(LegendPlacement.RIGHT)
                .show_legend(True)
                .calcs(["lastNotNull", "max"])
            )
        )
        if minimum is not None:
            p = p.min(minimum)
        if stacked:
            p = p.stacking(StackingConfig().mode(StackingMode.NORMAL))
        for t in self._register(title, queries):
            p = p.with_target(t.range())
        self.builder.with_panel(p)

    def state_timeline(
        self, title: str, description: str, unit: str, queries: Sequence[Query], *, width: int = 12, height: int = 8
    ) -> None:
        p = (
            statetimeline.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(width)
            .height(height)
            .show_value(VisibilityMode.AUTO)
            .merge_values(True)
        )
        for t in self._register(title, queries):
            p = p.with_target(t.range())
        self.builder.with_panel(p)

    def bars(
        self, title: str, description: str, unit: str, queries: Sequence[Query], *, width: int = 12, height: int = 8
    ) -> None:
        p = (
            bargauge.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(width)
            .height(height)
            .min(0)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        )
        for t in self._register(title, queries):
            p = p.with_target(t.instant().format(PromQueryFormat.TIME_SERIES))
        self.builder.with_panel(p)

    def table(
        self,
        title: str,
        description: str,
        unit: str,
        queries: Sequence[Query],
        *,
        columns: Mapping[str, str] | None = None,
        column_units: Mapping[str, str] | None = None,
        hide: Sequence[str] = (),
        width: int = 12,
        height: int = 8,
    ) -> None:
        """An instant table of the queries merged on their labels. `columns` renames value columns ("Value #A",
        or "Value" for a single query); `hide` drops columns (values that are always 1 carry no information)."""
        rename = dict(columns or {})
        if len(queries) == 1 and not rename:
            rename = {"Value": "value"}
        p = (
            table.Panel()
            .id(self._next_id())
            .title(title)
            .description(description)
            .datasource(DS)
            .unit(unit)
            .span(width)
            .height(height)
            .with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
            .with_transformation(
                dm.DataTransformerConfig(
                    id_val="organize",
                    options={"excludeByName": {c: True for c in ("Time", *hide)}, "renameByName": rename},
                )
            )
        )
        for column, column_unit in (column_units or {}).items():
            p = p.override_by_name(column, [dm.DynamicConfigValue(id_val="unit", value=column_unit)])
        for t in self._register(title, queries):
            p = p.with_target(t.instant().format(PromQueryFormat.TABLE))
        self.builder.with_panel(p)

    def annotation(self, name: str, query: Query, color: str) -> None:
        self.queries.append(PanelQuery(self.file, f"annotation: {name}", query))
        self.builder.annotation(
            dashboard.AnnotationQuery().name(name).datasource(DS).enable(True).icon_color(color).expr(query.expr)
        )

    def json(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))
        return data


# --- Queries shared by several dashboards -----------------------------------------------------------------

LIVE_BROKERS = Query(f"max(kafka_brokers{{{C}}})", "live")
EXPECTED_BROKERS = Query(f"max(kafka_brokers_expected{{{C}}})", "expected", "configured")
MISSING_BROKERS = Query(f"count(max by (broker_id) (kafka_broker_missing{{{C}}})) or vector(0)", "missing")
OFFLINE = Query(f"sum(max by (topic) (kafka_topic_offline_partitions{{{C}}}))", "offline")
UNDER_MIN_ISR = Query(f"sum(max by (topic) (kafka_topic_under_min_isr_partitions{{{C}}}))", "under min ISR")
# Kafka's at-min-ISR includes healthy RF == min ISR partitions; these also lost a replica (as the alert).
AT_MIN_ISR_DEGRADED = Query(
    f"count(max by (topic, partition) (kafka_partition_at_min_isr{{{C}}}) "
    f"and on (topic, partition) max by (topic, partition) (kafka_partition_under_replicated{{{C}}})) or vector(0)",
    "at min ISR (lost a replica)",
)
UNDER_REPLICATED = Query(f"sum(max by (topic) (kafka_topic_under_replicated_partitions{{{C}}}))", "under-replicated")
LEADERS = Query(f"max by (broker_id) (kafka_broker_leaders{{{C}}})", "{{broker_id}}")
REPLICAS = Query(f"max by (broker_id) (kafka_broker_replicas{{{C}}})", "{{broker_id}}")
# source="metadata" is the controller the Metadata answer names in ZooKeeper mode, a cross-check of
# ZooKeeper's /controller.
CONTROLLER_ID = Query(f"max by (source) (kafka_controller_id{{{C}}})", "{{source}}")
CONTROLLER_CHANGES = Query(
    f"max(increase(kafka_controller_changes_total{{{C}}}[$__rate_interval]))", "controller changes"
)


def _broker_panels(b: Board) -> None:
    b.timeseries(
        "Live vs expected brokers",
        "Brokers in the cluster's metadata, and how many the policy expects (expected_brokers or "
        "expected_broker_count; absent when the policy sets neither).",
        "short",
        [LIVE_BROKERS, EXPECTED_BROKERS, MISSING_BROKERS],
        width=8,
    )
    b.timeseries(
        "Partition replicas per broker",
        "Replicas assigned to each broker, including replicas a reassignment is still adding or removing. A "
        "drained broker goes to 0; a new one fills up.",
        "short",
        [REPLICAS],
        width=8,
    )
    b.timeseries(
        "Partition leaders per broker",
        "Partitions each live broker leads (0 for a broker leading none, e.g. just restarted before a "
        "preferred leader election).",
        "short",
        [LEADERS],
        width=8,
    )


def _partition_state_panel(b: Board, width: int = 12) -> None:
    b.timeseries(
        "Partition states",
        "Offline (no live leader: no reads or writes), under min ISR (acks=all writes fail), at min ISR after "
        "losing a replica (one more loss stops writes), under-replicated (ISR < replicas).",
        "short",
        [OFFLINE, UNDER_MIN_ISR, AT_MIN_ISR_DEGRADED, UNDER_REPLICATED],
        width=width,
    )


def _safe_to_stop_row(b: Board) -> None:
    """What the seed's team checked by hand before each step: would stopping this broker now stop writes?"""
    b.row("Is it safe to stop a broker now?")
    b.table(
        "Per broker: what stopping it now would do",
        "For each live broker: partitions that would go offline or under min.insync.replicas (acks=all writes "
        "fail) if it stopped now, simulated from the current ISRs; its replicas and the partitions it leads (its "
        "leaders move when it stops). Safe to stop: both loss columns 0.",
        "none",
        [
            Query(f"max by (broker_id) (kafka_broker_loss_offline_partitions{{{C}}})"),
            Query(f"max by (broker_id) (kafka_broker_loss_under_min_isr_partitions{{{C}}})"),
            Query(f"max by (broker_id) (kafka_broker_replicas{{{C}}})"),
            Query(f"max by (broker_id) (kafka_broker_leaders{{{C}}})"),
        ],
        columns={
            "Value #A": "would go offline",
            "Value #B": "would fall under min ISR",
            "Value #C": "replicas",
            "Value #D": "leads",
        },
        width=12,
    )
    b.stat(
        "Topics any restart blocks",
        "Topics with partitions whose replication factor is not above min.insync.replicas: stopping any broker "
        "holding one makes acks=all writes fail (alert KafkaTopicReplicationFactorNotAboveMinIsr).",
        "short",
        [Query(f"count(max by (topic) (kafka_topic_replication_factor_not_above_min_isr{{{C}}}) == 1) or vector(0)")],
        width=4,
        red_at=1,
    )
    b.stat(
        "Non-preferred leaders",
        "Partitions led by a replica other than the preferred one: after restarts, until a preferred leader "
        "election (kafka-leader-election --election-type PREFERRED) or auto.leader.rebalance moves them back.",
        "short",
        [Query(f"sum(max by (topic) (kafka_topic_non_preferred_leader_partitions{{{C}}})) or vector(0)")],
        width=4,
        yellow_at=1,
    )
    b.stat(
        "Rack-collocated partitions",
        "Partitions with two or more replicas in one rack although racks enough exist: losing that rack costs "
        "them more than one replica (clusters with racks; absent without).",
        "short",
        [Query(f"sum(max by (topic) (kafka_topic_rack_collocated_partitions{{{C}}}))", presence="event")],
        width=4,
        yellow_at=1,
    )


def _controller_panels(b: Board) -> None:
    b.state_timeline(
        "Active controller",
        "The active controller's id over time: the broker in ZooKeeper's /controller (zookeeper) and the one "
        "DescribeCluster names (admin; they differ while the controller moves or hangs), or the KRaft "
        "metadata quorum leader (kraft_quorum).",
        "none",
        [CONTROLLER_ID],
        width=16,
        height=5,
    )
    b.timeseries(
        "Controller changes",
        "Changes of controller id or epoch the exporter observed (sampled every collection interval).",
        "short",
        [CONTROLLER_CHANGES],
        width=8,
        height=5,
    )


# --- Dashboards ------------------------------------------------------------------------------------------


def overview() -> Board:
    b = Board(
        "kafka-cluster-overview.json",
        "kce-cluster-overview",
        "Kafka / Cluster overview",
        "Is data at risk right now? Brokers, partition states, controller, rack exposure, policy drift and the "
        "exporter's own health for one Kafka cluster.",
    )
    b.row("Now")
    b.stat("Live brokers", "Brokers in the cluster's metadata.", "short", [LIVE_BROKERS])
    b.stat("Missing brokers", "Expected brokers that are not live.", "short", [MISSING_BROKERS], red_at=1, width=4)
    b.stat("Offline partitions", "Partitions without a live leader.", "short", [OFFLINE], red_at=1)
    b.stat(
        "Under min ISR",
        "Partitions with fewer in-sync replicas than min.insync.replicas: acks=all writes fail.",
        "short",
        [UNDER_MIN_ISR],
        red_at=1,
    )
    b.stat(
        "At min ISR, degraded",
        "Partitions that lost a replica and are down to exactly min.insync.replicas: one more loss stops "
        "acks=all writes. (Healthy RF == min ISR partitions are not counted.)",
        "short",
        [AT_MIN_ISR_DEGRADED],
        yellow_at=1,
    )
    b.stat(
        "Under-replicated",
        "Partitions with fewer in-sync replicas than replicas.",
        "short",
        [UNDER_REPLICATED],
        yellow_at=1,
    )
    b.stat(
        "Controller",
        "Id of the active controller.",
        "none",
        [
            Query(
                f'max(kafka_controller_id{{{C}, source!="metadata"}})'
                f' or max(kafka_controller_id{{{C}, source="metadata"}})'
            )
        ],
    )
    b.stat("Topics", "Topics, internal ones included.", "short", [Query(f"max(kafka_topics{{{C}}})")])
    b.stat(
        "Partitions",
        "Partitions over all topics.",
        "short",
        [Query(f"sum(max by (topic) (kafka_topic_partitions{{{C}}}))")],
    )
    b.stat(
        "Consumer groups",
        "Consumer groups that commit offsets.",
        "short",
        [Query(f"max(kafka_consumer_groups{{{C}}})")],
    )
    b.stat(
        "Data age",
        "Age of the cluster data the exporter serves; grows while the cluster is unreachable "
        "(alert KafkaExporterSnapshotStale above 180 s).",
        "s",
        [Query(f"max(kafka_exporter_snapshot_age_seconds{{{C}}})")],
        yellow_at=60,
        red_at=180,
    )
    b.stat(
        "Firing alerts",
        "Alerts of this cluster firing in Prometheus.",
        "short",
        [Query(f'count(ALERTS{{{C}, alertstate="firing"}}) or vector(0)')],
        yellow_at=1,
    )

    b.row("Partitions and exposure")
    _partition_state_panel(b)
    b.timeseries(
        "If a rack were lost",
        "Partitions that would go offline or under min ISR if every broker of the rack were lost now "
        "(simulated with Kafka's clean leader election). A broker without a rack is a rack of its own.",
        "short",
        [
            Query(f"max by (rack) (kafka_rack_loss_under_min_isr_partitions{{{C}}})", "{{rack}}: under min ISR"),
            Query(f"max by (rack) (kafka_rack_loss_offline_partitions{{{C}}})", "{{rack}}: offline"),
        ],
    )
    b.table(
        "Partitions at risk now",
        "Partitions offline or under min ISR, as kafka-topics --unavailable-partitions / "
        "--under-min-isr-partitions list them.",
        "short",
        [
            Query(f"max by (topic, partition) (kafka_partition_offline{{{C}}})", presence="event"),
            Query(f"max by (topic, partition) (kafka_partition_under_min_isr{{{C}}})", presence="event"),
        ],
        columns={"Value #A": "offline", "Value #B": "under min ISR"},
    )
    b.table(
        "Topics off policy",
        "Topics whose replication factor or effective min.insync.replicas differs from the policy (value: "
        "actual minus desired).",
        "short",
        [
            Query(f"max by (topic) (kafka_topic_replication_factor_drift{{{C}}}) != 0", presence="event"),
            Query(f"max by (topic) (kafka_topic_min_insync_replicas_drift{{{C}}}) != 0", presence="event"),
        ],
        columns={"Value #A": "RF drift", "Value #B": "min ISR drift"},
    )

    b.row("Brokers")
    _broker_panels(b)
    b.table(
        "Brokers",
        "Live brokers with address and rack.",
        "none",
        [Query(f"max by (broker_id, host, port, rack) (kafka_broker_info{{{C}}})")],
        hide=["Value"],
    )
    b.timeseries(
        "Free disk",
        "Usable share of the volume holding each log directory (Kafka 3.3 and later report it). Alert "
        "KafkaBrokerDiskSpaceLow below 10%.",
        "percentunit",
        [
            Query(
                f"max by (broker_id, path) (kafka_broker_log_dir_usable_bytes{{{C}}} "
                f"/ kafka_broker_log_dir_total_bytes{{{C}}})",
                "{{broker_id}} {{path}}",
            )
        ],
    )
    b.table(
        "Broker settings off policy",
        "Live brokers whose value of a policy.broker_settings entry differs from the policy.",
        "none",
        [Query(f"max by (broker_id, setting, desired, actual) (kafka_broker_setting_drift{{{C}}})", presence="event")],
        hide=["Value"],
    )

    b.row("Write probe (concerns: {probe: true})")
    b.state_timeline(
        "acks=all writes per broker",
        "Whether the exporter's probe record to the probe partition each broker leads was acknowledged with "
        "acks=all (green) this cycle, and read back. Red: producers with acks=all to partitions that broker leads "
        "fail now (alert KafkaProbeWriteFailing). Empty unless the probe is switched on.",
        "bool_yes_no",
        [
            Query(f"min by (broker) (kafka_probe_write_success{{{C}}})", "write {{broker}}", "configured"),
            Query(f"min by (broker) (kafka_probe_read_success{{{C}}})", "read back {{broker}}", "configured"),
        ],
    )
    b.timeseries(
        "Probe latency per broker",
        "Time to the acks=all acknowledgement (the leader waits for every in-sync replica) and to reading the record "
        "back. Alert KafkaProbeWriteSlow above 1 s.",
        "s",
        [
            Query(f"max by (broker) (kafka_probe_write_ack_latency_seconds{{{C}}})", "ack {{broker}}", "configured"),
            Query(f"max by (broker) (kafka_probe_end_to_end_latency_seconds{{{C}}})", "read {{broker}}", "configured"),
        ],
    )

    b.row("Controller")
    _controller_panels(b)

    b.row("Exporter")
    b.timeseries(
        "Data age and cycle duration",
        "Age of the data served (grows while the cluster is unreachable) and duration of the last collection cycle.",
        "s",
        [
            Query(f"max(kafka_exporter_snapshot_age_seconds{{{C}}})", "data age"),
            Query(f"max(kafka_exporter_last_cycle_duration_seconds{{{C}}})", "cycle duration"),
        ],
        width=8,
    )
    b.timeseries(
        "Failed calls",
        "Failed calls to Kafka or ZooKeeper per second, by source and call.",
        "cps",
        [
            Query(
                f"sum by (source, call) (rate(kafka_exporter_collection_errors_total{{{C}}}[$__rate_interval]))",
                "{{source}} {{call}}",
                "event",
            )
        ],
        width=8,
    )
    b.timeseries(
        "Sources answering",
        "1 when every call to the source succeeded in the last cycle.",
        "bool_yes_no",
        [Query(f"min by (source) (kafka_exporter_source_up{{{C}}})", "{{source}}")],
        width=8,
    )
    return b


def migration() -> Board:
    b = Board(
        "kafka-migration.json",
        "kce-migration",
        "Kafka / Migration & reassignments",
        "The screen to watch while brokers join, drain and leave: live vs expected brokers, replicas and "
        "leaders per broker, reassignment progress and stalls, the controller, and data safety throughout.",
    )
    b.annotation(
        "Controller changes",
        Query(f"max(increase(kafka_controller_changes_total{{{C}}}[$__rate_interval])) > 0", presence="event"),
        "orange",
    )
    b.row("Brokers")
    _broker_panels(b)
    b.table(
        "Missing and unexpected brokers",
        "Broker ids the policy expects that are not live, and live brokers it does not list.",
        "none",
        [
            Query(f"max by (broker_id) (kafka_broker_missing{{{C}}})", presence="event"),
            Query(f"max by (broker_id) (kafka_broker_unexpected{{{C}}})", presence="event"),
        ],
        columns={"Value #A": "missing", "Value #B": "unexpected"},
    )
    b.table(
        "Broker versions",
        "The Kafka release each broker's API versions match (inferred), and its inter.broker.protocol.version "
        "(ZooKeeper mode): they differ during a rolling upgrade.",
        "none",
        [
            Query(f"max by (broker_id, version) (kafka_broker_version_info{{{C}}})", presence="event"),
            Query(f"max by (broker_id, version) (kafka_broker_inter_broker_protocol_info{{{C}}})", presence="event"),
        ],
        columns={"Value #A": "release", "Value #B": "inter.broker.protocol"},
    )

    _safe_to_stop_row(b)

    b.row("Reassignments")
    b.timeseries(
        "Reassigning vs stalled partitions",
        "Partitions being reassigned, those with a replica that stopped copying, and (ZooKeeper mode) those "
        "in /admin/reassign_partitions the controller ignores.",
        "short",
        [
            Query(f"max(kafka_reassignment_partitions{{{C}}})", "reassigning", "event"),
            Query(f"max(kafka_reassignment_stalled_partitions{{{C}}})", "stalled", "event"),
            Query(f"max(kafka_reassignment_pending_controller_partitions{{{C}}})", "ignored by controller", "event"),
        ],
        width=8,
    )
    b.timeseries(
        "Bytes left to copy",
        "Bytes all reassignments in progress still have to copy.",
        "bytes",
        [Query(f"max(kafka_reassignment_remaining_bytes{{{C}}})", "bytes left", "event")],
        width=8,
    )
    b.timeseries(
        "Copy rate per receiving broker",
        "Copy rate of each broker receiving adding replicas, over the stall window, and of all of them. A "
        "broker that copies while some of its replicas wait their turn is healthy; one at 0 is stalled.",
        "Bps",
        [
            Query(
                f"max by (broker_id) (kafka_broker_reassignment_progress_bytes_per_second{{{C}}})",
                "broker {{broker_id}}",
                "event",
            ),
            Query(f"max(kafka_reassignment_progress_bytes_per_second{{{C}}})", "all", "event"),
        ],
        width=8,
    )
    b.stat(
        "ETA",
        "Time to copy the remaining bytes at the recent rate (absent while nothing moves).",
        "s",
        [Query(f"max(kafka_reassignment_eta_seconds{{{C}}})", presence="event")],
        width=6,
    )
    b.stat(
        "Longest running",
        "How long the oldest reassignment in progress has been running (alert KafkaReassignmentRunningLong above 6 h).",
        "s",
        [Query(f"max(kafka_reassignment_longest_running_seconds{{{C}}})", presence="event")],
        width=6,
        yellow_at=6 * 3600,
    )
    b.stat(
        "Throttles left behind",
        "Brokers and topics with replication throttles while no reassignment runs.",
        "short",
        [Query(f"max(kafka_replication_throttles_left_behind{{{C}}})", presence="event")],
        width=6,
        yellow_at=1,
    )
    b.stat(
        "Upgrade in progress",
        "Brokers answer with different API versions (a rolling upgrade or a mixed cluster).",
        "bool_yes_no",
        [Query(f"max(kafka_cluster_mixed_versions{{{C}}})", presence="event")],
        width=6,
    )
    b.table(
        "Stalled replicas",
        "Adding replicas on a stalled receiving broker (broker_id): one that copied less than "
        "reassignment.min_progress_bytes_per_second over the stall window on all its adding replicas together.",
        "none",
        [
            Query(
                f"max by (topic, partition, broker_id) (kafka_partition_reassignment_stalled{{{C}}})", presence="event"
            )
        ],
        hide=["Value"],
    )
    b.table(
        "Largest moves left",
        "The 20 reassigning partitions with the most bytes left to copy.",
        "bytes",
        [
            Query(
                f"topk(20, max by (topic, partition) (kafka_partition_reassignment_remaining_bytes{{{C}}}))",
                presence="event",
            )
        ],
        columns={"Value": "bytes left"},
    )
    b.timeseries(
        "Replication throttles",
        "leader/follower.replication.throttled.rate per broker, where set.",
        "Bps",
        [
            Query(
                f"max by (broker_id, direction) (kafka_broker_replication_throttle_bytes_per_second{{{C}}})",
                "{{broker_id}} {{direction}}",
                "event",
            )
        ],
    )
    b.timeseries(
        "Throttled topics",
        "Topics with leader/follower.replication.throttled.replicas set.",
        "short",
        [
            Query(
                f"count by (direction) (max by (topic, direction) (kafka_topic_replication_throttled{{{C}}}) == 1)",
                "{{direction}}",
                "event",
            )
        ],
    )

    b.row("Controller")
    _controller_panels(b)
    b.timeseries(
        "Controller epoch",
        "Rises at every controller election (ZooKeeper /controller_epoch, KRaft quorum leader epoch).",
        "none",
        [Query(f"max by (source) (kafka_controller_epoch{{{C}}})", "{{source}}", "configured")],
        minimum=None,
    )
    b.stat(
        "ZooKeeper to KRaft migration",
        "ZooKeeper's /controller is held by a KRaft controller (ZooKeeper mode with ZooKeeper configured).",
        "bool_yes_no",
        [Query(f"max(kafka_controller_kraft_migration{{{C}}})", presence="event")],
        width=12,
    )

    b.row("Data safety")
    _partition_state_panel(b, width=12)
    b.timeseries(
        "Topics off their desired RF / min ISR",
        "Topics whose replication factor or effective min.insync.replicas differs from the policy.",
        "short",
        [
            Query(f"count(max by (topic) (kafka_topic_replication_factor_drift{{{C}}}) != 0) or vector(0)", "RF"),
            Query(f"count(max by (topic) (kafka_topic_min_insync_replicas_drift{{{C}}}) != 0) or vector(0)", "min ISR"),
        ],
    )
    b.table(
        "Topics off their desired RF",
        "Replication factor (lowest and highest over partitions) against the policy's, for topics that differ.",
        "none",
        [
            Query(f"max by (topic) (kafka_topic_replication_factor_drift{{{C}}}) != 0", presence="event"),
            Query(
                f"max by (topic) (kafka_topic_replication_factor{{{C}}}) and on (topic) "
                f"(max by (topic) (kafka_topic_replication_factor_drift{{{C}}}) != 0)",
                presence="event",
            ),
            Query(
                f"max by (topic) (kafka_topic_desired_replication_factor{{{C}}}) and on (topic) "
                f"(max by (topic) (kafka_topic_replication_factor_drift{{{C}}}) != 0)",
                presence="event",
            ),
        ],
        columns={"Value #A": "drift", "Value #B": "RF (lowest)", "Value #C": "desired"},
        width=24,
    )
    return b


def consumer_lag() -> Board:
    g = f'{C}, group=~"$group"'
    gt = f'{C}, group=~"$group", topic=~"$topic"'
    b = Board(
        "kafka-consumer-lag.json",
        "kce-consumer-lag",
        "Kafka / Consumer lag",
        "Who is behind and by how long: lag in seconds (the age of the oldest unconsumed message) and in "
        "messages, each group's verdict, and partitions. Lag is sampled by the exporter's background "
        "collection, not at scrape time.",
    )
    b.variable("group", "Group", 'label_values(kafka_consumer_group_info{cluster="$cluster"}, group)')
    b.variable(
        "topic",
        "Topic",
        'label_values(kafka_consumer_group_topic_partitions{cluster="$cluster", group=~"$group"}, topic)',
    )
    b.row("Groups")
    b.bars(
        "Top 10 groups by lag",
        "Age of each group's oldest unconsumed message, over all its topics (alert KafkaConsumerGroupLagHigh "
        "above 5 min).",
        "s",
        [Query(f"topk(10, max by (group) (kafka_consumer_group_topic_lag_seconds{{{g}}}))", "{{group}}", "configured")],
    )
    b.stat(
        "Verdicts",
        "Groups by verdict over the last lag.verdict_window_seconds: ok, lagging (lag grew throughout), "
        "stalled (members but no progress), stopped (no members, no progress), rewound, unknown.",
        "short",
        [
            Query(
                f"count by (verdict) (max by (group, verdict) (kafka_consumer_group_verdict{{{g}}}))",
                "{{verdict}}",
                "configured",
            )
        ],
        width=12,
        height=8,
    )
    b.table(
        "Groups",
        "Each group's verdict, state as its coordinator reports it, type, and members.",
        "none",
        [
            Query(
                f"max by (group, verdict) (kafka_consumer_group_verdict{{{g}}}) * on (group) group_left (state, type) "
                f"max by (group, state, type) (kafka_consumer_group_info{{{g}}})",
                presence="configured",
            ),
            Query(f"max by (group) (kafka_consumer_group_members{{{g}}})", presence="configured"),
        ],
        columns={"Value #B": "members"},
        hide=["Value #A"],
        width=24,
    )

    b.row("Lag by group and topic")
    b.timeseries(
        "Lag in seconds",
        "Age of the oldest message of the topic the group has not consumed (0 when caught up).",
        "s",
        [
            Query(
                f"max by (group, topic) (kafka_consumer_group_topic_lag_seconds{{{gt}}})",
                "{{group}} / {{topic}}",
                "configured",
            )
        ],
    )
    b.timeseries(
        "Lag in messages",
        "Messages the group has not consumed, summed over the topic's partitions.",
        "short",
        [
            Query(
                f"max by (group, topic) (kafka_consumer_group_topic_lag{{{gt}}})", "{{group}} / {{topic}}", "configured"
            )
        ],
    )
    b.timeseries(
        "Produced vs consumed",
        "Messages per second written to the topic (high watermark) and committed by each group: the slope of "
        "those gauges (deriv), never below 0. Not rate(): it reads a group that rewinds its offsets as a counter "
        "reset, a huge false spike of consumption.",
        "cps",
        [
            Query(
                f"sum by (topic) (max by (topic, partition) "
                f'(clamp_min(deriv(kafka_partition_high_watermark{{{C}, topic=~"$topic"}}[$__rate_interval]), 0)))',
                "produced {{topic}}",
                "configured",
            ),
            Query(
                f"sum by (group, topic) (max by (group, topic, partition) "
                f"(clamp_min(deriv(kafka_consumer_group_committed_offset{{{gt}}}[$__rate_interval]), 0)))",
                "consumed {{group}} / {{topic}}",
                "configured",
            ),
        ],
    )
    b.timeseries(
        "Members",
        "Members of each group.",
        "short",
        [Query(f"max by (group) (kafka_consumer_group_members{{{g}}})", "{{group}}", "configured")],
    )
    b.timeseries(
        "Partitions below log start",
        "Partitions whose committed offset is below the oldest stored offset: retention deleted records the "
        "group had not read.",
        "short",
        [
            Query(
                f"max by (group, topic) (kafka_consumer_group_topic_partitions_below_log_start{{{gt}}}) > 0",
                "{{group}} / {{topic}}",
                "event",
            )
        ],
        width=24,
    )

    b.row("Partitions")
    b.table(
        "Per partition",
        "Committed offset, lag in messages and in seconds per group and partition (needs per-partition series: "
        "lag.per_partition on and within lag.max_partition_series).",
        "none",
        [
            Query(
                f"max by (group, topic, partition) (kafka_consumer_group_committed_offset{{{gt}}})",
                presence="configured",
            ),
            Query(f"max by (group, topic, partition) (kafka_consumer_group_lag{{{gt}}})", presence="configured"),
            Query(
                f"max by (group, topic, partition) (kafka_consumer_group_lag_seconds{{{gt}}})", presence="configured"
            ),
        ],
        columns={"Value #A": "committed offset", "Value #B": "lag", "Value #C": "lag (s)"},
        column_units={"lag (s)": "s"},
        width=18,
        height=10,
    )
    b.stat(
        "Per-partition series",
        "Whether the exporter exposes per-partition lag this cycle (off, or over lag.max_partition_series, "
        "leaves the per-group and per-topic series only).",
        "bool_yes_no",
        [Query(f"max(kafka_exporter_lag_per_partition{{{C}}})")],
        width=6,
        height=10,
    )
    return b


def boards() -> list[Board]:
    return [overview(), migration(), consumer_lag()]


def render(data: Mapping[str, object]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def queries() -> list[PanelQuery]:
    return [q for b in boards() for q in b.queries]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed dashboard differs")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory to write to (default: %(default)s)")
    args = parser.parse_args(argv)
    stale = []
    for b in boards():
        path = args.out / b.file
        text = render(b.json())
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python -m dashboards.generate): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
