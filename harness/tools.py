"""Run Kafka's command-line tools (topics, consumer groups, reassignment, ...) from the harness jars.

Class names were checked against kafka-tools/kafka_2.13 3.9.1 and 4.1.1: most tools moved from Scala
`kafka.admin.*` to `org.apache.kafka.tools.*` before 3.9, so one name serves both versions; the rest
are per-version mappings below.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness.jars import KafkaVersion, cds_archive_path, classpath, java_binary, uses_log4j2

# Same class in 3.9.1 and 4.1.1.
TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
CONSUMER_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
REASSIGN_PARTITIONS_COMMAND = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
LEADER_ELECTION_COMMAND = "org.apache.kafka.tools.LeaderElectionCommand"
LOG_DIRS_COMMAND = "org.apache.kafka.tools.LogDirsCommand"
DELETE_RECORDS_COMMAND = "org.apache.kafka.tools.DeleteRecordsCommand"
GET_OFFSET_SHELL = "org.apache.kafka.tools.GetOffsetShell"
METADATA_QUORUM_COMMAND = "org.apache.kafka.tools.MetadataQuorumCommand"
FEATURE_COMMAND = "org.apache.kafka.tools.FeatureCommand"
CLUSTER_TOOL = "org.apache.kafka.tools.ClusterTool"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
PRODUCER_PERFORMANCE = "org.apache.kafka.tools.ProducerPerformance"
CONFIG_COMMAND = "kafka.admin.ConfigCommand"  # still Scala in 4.1.1
STORAGE_TOOL = "kafka.tools.StorageTool"  # still Scala in 4.1.1 (`format -t <cluster id> -c <props>`)

# Moved between 3.9 and 4.x.
CONSOLE_PRODUCER: Mapping[KafkaVersion, str] = {
    "1.1": "kafka.tools.ConsoleProducer",
    "2.1": "kafka.tools.ConsoleProducer",
    "2.8": "kafka.tools.ConsoleProducer",
    "3.6": "kafka.tools.ConsoleProducer",
    "3.9": "kafka.tools.ConsoleProducer",
    "4": "org.apache.kafka.tools.ConsoleProducer",
}
ACL_COMMAND: Mapping[KafkaVersion, str] = {
    "1.1": "kafka.admin.AclCommand",
    "2.1": "kafka.admin.AclCommand",
    "2.8": "kafka.admin.AclCommand",
    "3.6": "kafka.admin.AclCommand",
    "3.9": "kafka.admin.AclCommand",
    "4": "org.apache.kafka.tools.AclCommand",
}
# Where the tools above lived before they moved to org.apache.kafka.tools (checked in the 1.1.1, 2.1.1, 2.8.2
# and 3.6.2 jars); tool_argv translates, so callers name a tool the same way for every version. Options differ
# too: before 2.2 kafka-topics and, before 2.5, kafka-reassign-partitions need --zookeeper.
_LEGACY_CLASSES: Mapping[str, Mapping[KafkaVersion, str]] = {
    TOPIC_COMMAND: dict.fromkeys(("1.1", "2.1", "2.8", "3.6"), "kafka.admin.TopicCommand"),
    CONSUMER_GROUP_COMMAND: dict.fromkeys(("1.1", "2.1", "2.8", "3.6"), "kafka.admin.ConsumerGroupCommand"),
    REASSIGN_PARTITIONS_COMMAND: dict.fromkeys(("1.1", "2.1", "2.8", "3.6"), "kafka.admin.ReassignPartitionsCommand"),
    LEADER_ELECTION_COMMAND: dict.fromkeys(("2.8", "3.6"), "kafka.admin.LeaderElectionCommand"),
    LOG_DIRS_COMMAND: dict.fromkeys(("1.1", "2.1", "2.8"), "kafka.admin.LogDirsCommand"),
    DELETE_RECORDS_COMMAND: dict.fromkeys(("1.1", "2.1", "2.8"), "kafka.admin.DeleteRecordsCommand"),
    GET_OFFSET_SHELL: dict.fromkeys(("1.1", "2.1", "2.8", "3.6"), "kafka.tools.GetOffsetShell"),
    CONSOLE_CONSUMER: dict.fromkeys(("1.1", "2.1", "2.8", "3.6"), "kafka.tools.ConsoleConsumer"),
}


def tool_class(version: KafkaVersion, main_class: str) -> str:
    """The class of `main_class`'s tool in `version` (tools moved packages over the releases)."""
    return _LEGACY_CLASSES.get(main_class, {}).get(version, main_class)


TOOL_JVM_OPTS: tuple[str, ...] = (
    "-Xms32m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)


class ToolError(RuntimeError):
    """A Kafka tool failed or timed out."""


# --- child process setup shared with harness.cluster --------------------------------------------------

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def die_with_parent_preexec() -> Callable[[], None]:
    """`preexec_fn` making the child get SIGKILL when the thread that forked it exits.

    Linux ties PR_SET_PDEATHSIG to the forking *thread*, not the process: fork only from a thread that
    outlives the child (harness.cluster uses one dedicated spawner thread for long-lived JVMs).
    """
    libc = _load_libc()  # loaded before fork: the child must not dlopen between fork and exec
    parent = os.getpid()

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect: no signal would come
            os._exit(1)

    return setup


# --- logging config -----------------------------------------------------------------------------------

_LOG4J_TOOLS = """\
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

_LOG4J2_TOOLS = """\
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
"""

_config_lock = threading.Lock()
_config_dir: Path | None = None


def _tool_log_config_dir() -> Path:
    global _config_dir
    with _config_lock:
        if _config_dir is None or not _config_dir.is_dir():
            _config_dir = Path(tempfile.mkdtemp(prefix="kafka-harness-tools-"))
            (_config_dir / "log4j.properties").write_text(_LOG4J_TOOLS)
            (_config_dir / "log4j2.xml").write_text(_LOG4J2_TOOLS)
            atexit.register(shutil.rmtree, _config_dir, True)
        return _config_dir


def logging_jvm_opt(version: KafkaVersion, config_file: Path) -> str:
    """System property pointing the version's logging backend (reload4j / log4j2) at `config_file`."""
    if uses_log4j2(version):
        return f"-Dlog4j2.configurationFile={config_file}"
    return f"-Dlog4j.configuration=file:{config_file}"


def tool_argv(version: KafkaVersion, main_class: str, args: Sequence[str]) -> list[str]:
    """Command line running `main_class` of Kafka `version` with a small heap, logging WARN to stderr."""
    config_dir = _tool_log_config_dir()
    log_config = config_dir / ("log4j2.xml" if uses_log4j2(version) else "log4j.properties")
    # The brokers' class-data archive (see harness.cluster) covers most classes a tool loads, too.
    archive = cds_archive_path(version)
    cds = [f"-XX:SharedArchiveFile={archive}", "-Xlog:cds=off,cds+dynamic=off"] if archive.is_file() else []
    return [
        java_binary(),
        *TOOL_JVM_OPTS,
        *cds,
        logging_jvm_opt(version, log_config),
        "-cp",
        classpath(version),
        tool_class(version, main_class),
        *args,
    ]


def run_tool(
    version: KafkaVersion,
    main_class: str,
    args: Sequence[str],
    timeout: float = 60,
    *,
    check: bool = False,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Kafka tool to completion; stdout/stderr are captured as text.

    Raises ToolError on timeout (the JVM is killed) and, with check=True, on a non-zero exit.
    """
    argv = tool_argv(version, main_class, args)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent_preexec(),  # noqa: PLW1509 -- only prctl/getppid run before exec
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise ToolError(
            f"{main_class} {' '.join(args)} timed out after {timeout}s and was killed; "
            f"stderr tail:\n{_tail(err)}\nstdout tail:\n{_tail(out)}"
        ) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and result.returncode != 0:
        raise ToolError(
            f"{main_class} {' '.join(args)} exited {result.returncode}; stderr tail:\n{_tail(err)}\n"
            f"stdout tail:\n{_tail(out)}"
        )
    return result


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])
