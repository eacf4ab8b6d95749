"""Locate (and on a clean clone, fetch) the Kafka jars the harness runs.

Each `harness/kafka*/pom.xml` copies its full runtime classpath into `target/lib/` on `mvn package`.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Literal

# "1.1" is 1.1.1 (what the seed's team ran first), "2.1" 2.1.1 (what they upgraded to), "2.8" 2.8.2, "3.6" 3.6.2,
# "3.9" 3.9.1 (ZooKeeper mode), "4" 4.1.1 (KRaft only).
KafkaVersion = Literal["1.1", "2.1", "2.8", "3.6", "3.9", "4"]
# Every version the harness can run, oldest first; RELEASES names the exact release each stands for.
VERSIONS: tuple[KafkaVersion, ...] = ("1.1", "2.1", "2.8", "3.6", "3.9", "4")
RELEASES: dict[KafkaVersion, str] = {
    "1.1": "1.1.1",
    "2.1": "2.1.1",
    "2.8": "2.8.2",
    "3.6": "3.6.2",
    "3.9": "3.9.1",
    "4": "4.1.1",
}

HARNESS_DIR = Path(__file__).resolve().parent
_PROJECT_DIRS: dict[KafkaVersion, Path] = {v: HARNESS_DIR / f"kafka{v.replace('.', '')}" for v in VERSIONS}


def uses_log4j2(version: KafkaVersion) -> bool:
    """Kafka 4 logs through log4j2; older versions through log4j 1 (reload4j here)."""
    return version == "4"


class JarsError(RuntimeError):
    """The Kafka jars are missing and could not be fetched."""


class JavaNotFoundError(RuntimeError):
    """No `java` executable to run Kafka with."""


def java_binary() -> str:
    """Path of the `java` to run Kafka with: `$JAVA_HOME/bin/java`, else `java` on PATH (Java 17+)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
        raise JavaNotFoundError(f"JAVA_HOME={java_home} has no executable bin/java; fix or unset JAVA_HOME")
    found = shutil.which("java")
    if found is None:
        raise JavaNotFoundError(
            "`java` is not on PATH; install Java 17+ (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
        )
    return found


def lib_dir(version: KafkaVersion) -> Path:
    """Directory holding the jars of `version` (may not exist yet; see `classpath`)."""
    try:
        return _PROJECT_DIRS[version] / "target" / "lib"
    except KeyError:
        raise ValueError(f"unknown Kafka version {version!r}; expected one of {sorted(_PROJECT_DIRS)}") from None


def _has_jars(lib: Path) -> bool:
    return lib.is_dir() and any(lib.glob("*.jar"))


def classpath(version: KafkaVersion) -> str:
    """Java classpath (`<dir>/target/lib/*`) for `version`, running `mvn -q -B package` first if needed."""
    lib = lib_dir(version)
    if _has_jars(lib):
        return f"{lib}/*"
    project = _PROJECT_DIRS[version]
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsError(
            f"Kafka {version} jars are missing ({lib} is empty) and `mvn` is not on PATH; "
            f"install Maven (e.g. `apt-get install maven`) or run `mvn -q -B package` in {project}"
        )
    target = project / "target"
    target.mkdir(exist_ok=True)
    # Parallel test sessions on a clean clone would otherwise run Maven twice into the same directory.
    with (target / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _has_jars(lib):
            proc = subprocess.run(
                [mvn, "-q", "-B", "package"],
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
            if proc.returncode != 0 or not _has_jars(lib):
                output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # Maven colours even with -B
                tail = "\n".join(output.splitlines()[-40:])
                raise JarsError(
                    f"`mvn -q -B package` in {project} failed (exit {proc.returncode}); check access to Maven "
                    f"Central (or a mirror in ~/.m2/settings.xml). Maven's last output:\n{tail}"
                )
    return f"{lib}/*"


@functools.cache
def cds_archive_path(version: KafkaVersion) -> Path:
    """Where the AppCDS archive (pre-parsed classes, ~40 MiB) for `version` and this JVM belongs.

    The name hashes the JVM binary and every jar, so a JDK upgrade or new jars simply select a new archive.
    """
    lib = lib_dir(version)
    java = Path(os.path.realpath(java_binary()))
    digest = hashlib.sha256()
    for path in [java, java.parent.parent / "lib" / "server" / "libjvm.so", *sorted(lib.glob("*.jar"))]:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return lib.parent / "cds" / f"kafka-{digest.hexdigest()[:16]}.jsa"


def install_cds_archive(version: KafkaVersion, dumped: Path) -> bool:
    """Move a freshly dumped archive into place if a JVM can map it (a truncated one crashes the JVM)."""
    check = subprocess.run(
        [java_binary(), "-Xshare:on", f"-XX:SharedArchiveFile={dumped}", "-cp", classpath(version), "-version"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if check.returncode != 0:
        return False
    os.replace(dumped, cds_archive_path(version))  # atomic: concurrent sessions never see a partial file
    return True
