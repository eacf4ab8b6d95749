"""Grafana dashboards for kafka-cluster-exporter, generated from `dashboards/generate.py`."""
