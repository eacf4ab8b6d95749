"""Sources do the I/O and return plain snapshots (exporter/model.py); each records its calls and failures through
a CycleRecorder under one of these roles, the values of the `source` label of the exporter's own metrics."""

METADATA = "metadata"  # Metadata requests: brokers, controller, topics, partitions (librdkafka, or kafka-python)
KAFKA_ADMIN = "kafka_admin"  # every other Kafka request: configs, log dirs, groups, offsets, reassignments, ...
ZOOKEEPER = "zookeeper"  # ZooKeeper reads (ZooKeeper-mode clusters with `zookeeper` configured)
ROLES = (METADATA, KAFKA_ADMIN, ZOOKEEPER)
