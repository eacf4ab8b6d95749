"""kafka-cluster-exporter: watches Apache Kafka clusters from outside and shows data at risk."""

__version__ = "0.1.0"
