"""Test harness: real Apache Kafka / ZooKeeper clusters on 127.0.0.1 for integration tests and demos.

`harness.cluster` starts ZooKeeper-mode (Kafka 3.9) and KRaft (Kafka 4.1) clusters from the jars that
`harness.jars` fetches with Maven; `harness.tools` runs Kafka's command-line tools from the same jars.
"""
