"""DescribeLogDirs answers, as kafka-python decodes them off the wire, read into LogDir: partition sizes per
directory, a failed directory's error, and disk capacity only where the version carries it (v4+)."""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin import DescribeLogDirsResponse as Response

from exporter.model import LogDir
from exporter.sources.kafka_admin import parse_log_dirs

Result = Response.DescribeLogDirsResult
TopicEntry = Result.DescribeLogDirsTopic
PartitionEntry = TopicEntry.DescribeLogDirsPartition


def decoded(version: int, results: list[dict[str, Any]]) -> list[Any]:
    """The response encoded at `version` and decoded again, as the client hands it over."""

    def part(index: int, size: int) -> Any:
        return PartitionEntry(version=version, partition_index=index, partition_size=size, offset_lag=0)

    built = [
        Result(
            version=version,
            **{k: v for k, v in r.items() if k != "topics"},
            topics=[
                TopicEntry(version=version, name=t, partitions=[part(i, s) for i, s in ps]) for t, ps in r["topics"]
            ],
        )
        for r in results
    ]
    response = Response(version=version, throttle_time_ms=0, results=built)
    return list(Response.decode(response.encode(version=version), version=version).results)


def test_sizes_per_directory_and_an_offline_directory() -> None:
    results = decoded(
        1,
        [
            {"error_code": 0, "log_dir": "/data/a", "topics": [("orders", [(0, 100), (1, 250)]), ("audit", [(3, 7)])]},
            {"error_code": 57, "log_dir": "/data/b", "topics": []},  # KAFKA_STORAGE_ERROR: the disk failed
        ],
    )
    assert parse_log_dirs(2, results) == (
        LogDir(2, "/data/a", None, None, None, {("orders", 0): 100, ("orders", 1): 250, ("audit", 3): 7}),
        LogDir(2, "/data/b", "error code 57", None, None, {}),
    )


def test_capacity_from_version_4() -> None:
    results = decoded(
        4,
        [{"error_code": 0, "log_dir": "/d", "total_bytes": 1000, "usable_bytes": 400, "topics": [("t", [(0, 9)])]}],
    )
    (got,) = parse_log_dirs(1, results)
    assert (got.total_bytes, got.usable_bytes, got.replica_bytes) == (1000, 400, {("t", 0): 9})
