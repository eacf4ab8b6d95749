"""Issue 16: the container image, built on this machine (scripts/build-image.sh) and run against a real cluster.

buildah runs it with chroot isolation (runc is refused here), which shares the host's network. The root
filesystem is made read-only (a read-only bind mount over the container's mount point, which `buildah run`
then chroots into), not even /tmp is writable, and /run is a tmpfs (buildah puts `.containerenv` there) that
only root may write. What is left writable to the exporter is /dev/shm, which buildah binds from the host:
the test checks the exporter left nothing there. The image runs as its own USER, with its own ENTRYPOINT,
the config directory mounted.

The image is (re)built by the test: after the first build the bases and buildah's layer cache are kept, so a
rebuild costs the steps after the source changed (~20 s), and the image tested is the current code's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.monitoring import free_port
from tests.integration.scrape import http_get, one, parse

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
TAG = os.environ.get("KCE_IMAGE", "localhost/kafka-cluster-exporter:test")
BASE = "localhost/kce-base:bookworm"  # scripts/build-image.sh's runtime base
CONFIG_DIR = "/etc/kafka-cluster-exporter"  # the Dockerfile's ENTRYPOINT reads config.yaml there
BUILD_TIMEOUT_S = 540  # a cold build (Debian bases, wheels from PyPI) took ~2 min here; pytest's limit is 600 s


def run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image() -> dict[str, Any]:
    """The image's config (Docker format) after building it; skipped, saying why, where buildah cannot run."""
    if os.geteuid() != 0:
        pytest.skip("buildah here runs as root (chroot isolation, the read-only bind mount): run the suite as root")
    if shutil.which("buildah") is None and shutil.which("apt-get") is None:
        pytest.skip("buildah is not installed and apt-get is not there to install it")
    try:
        built = run(str(ROOT / "scripts/build-image.sh"), TAG, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.skip(f"scripts/build-image.sh {TAG} took over {BUILD_TIMEOUT_S} s (a busy machine?): build it first")
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).strip().splitlines()[-15:])
        # A broken Dockerfile or build script is a failure, never a skip.
        pytest.fail(f"scripts/build-image.sh {TAG} failed with exit {built.returncode}:\n{tail}")
    inspect = run("buildah", "inspect", "--type", "image", TAG)
    assert inspect.returncode == 0, inspect.stderr
    config: dict[str, Any] = json.loads(inspect.stdout)["Docker"]["config"]
    return config


@contextlib.contextmanager
def container(*, read_only: bool, of: str = TAG) -> Iterator[tuple[str, str]]:
    """A buildah container of the image: (its id, its root's mount point), removed afterwards."""
    ctr = run("buildah", "from", "--pull=never", "--quiet", of).stdout.strip()
    assert ctr, f"buildah from {of} failed"
    mounted = False
    try:
        root = run("buildah", "mount", ctr).stdout.strip()
        if read_only:
            # `buildah run` chroots into this path: a read-only bind mount on it is the container's root.
            subprocess.run(["mount", "--bind", root, root], check=True)
            mounted = True
            subprocess.run(["mount", "-o", "remount,bind,ro", root], check=True)
        yield ctr, root
    finally:
        if mounted:
            subprocess.run(["umount", root], check=False)
        run("buildah", "rm", ctr)


def test_image_runs_read_only_against_a_cluster(image: dict[str, Any], cluster_factory: Any, tmp_path: Path) -> None:
    assert image["User"] == "10001:10001"
    assert image["Entrypoint"] == ["kafka-cluster-exporter", "--config", f"{CONFIG_DIR}/config.yaml"]
    cluster = cluster_factory("zookeeper", [1])
    port = free_port()
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o755)
    (conf / "config.yaml").write_text(
        f"web: {{listen_address: '127.0.0.1:{port}'}}\n"
        f"clusters:\n  - bootstrap_servers: '{cluster.bootstrap_servers}'\n"
        "    collection: {interval_seconds: 1, timeout_seconds: 8, request_timeout_seconds: 4}\n"
    )
    (conf / "config.yaml").chmod(0o644)  # read by the image's user, 10001
    log = tmp_path / "exporter.log"
    shm_before = shm_files_of_10001()
    with container(read_only=True) as (ctr, _root), log.open("wb") as out:
        # The directory, not the file: a file mount needs its mount point created, and the root is read-only.
        cmd = ["buildah", "run", "--isolation", "chroot", "--mount", "type=tmpfs,destination=/run,tmpfs-mode=0755"]
        cmd += ["--volume", f"{conf}:{CONFIG_DIR}:ro", ctr, "--", *image["Entrypoint"]]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            s: dict[Any, float] = {}
            body = ""
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"the container exited: {log.read_text()[-3000:]}"
                with contextlib.suppress(OSError):
                    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
                    assert status == 200
                    s = parse(body)
                    if one(s, "kafka_brokers") == 1:
                        break
                time.sleep(0.5)
            assert one(s, "kafka_brokers") == 1, f"no kafka_brokers 1 within 90 s: {log.read_text()[-3000:]}"
            shown = ("kafka_brokers ", "kafka_exporter_source_up", "kafka_exporter_cluster_reachable")
            print(*(line for line in body.splitlines() if line.startswith(shown)), sep="\n")  # -s shows the scrape
            assert one(s, "kafka_exporter_source_up", source="metadata") == 1
            assert one(s, "kafka_exporter_cluster_reachable") == 1
            assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            assert http_get(f"http://127.0.0.1:{port}/ready")[0] == 200
            healthcheck(image, port)
            left = shm_files_of_10001() - shm_before
            assert not left, f"the exporter wrote to /dev/shm: {left}"
        finally:
            stop(proc)
    text = log.read_text()
    assert "shutting down" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    # buildah 1.28's exit status is not the exporter's here: its cleanup cannot delete what it created on the
    # read-only root and panics (exit 2). The log above is the exporter's word.


def shm_files_of_10001() -> set[Path]:
    return {p for p in Path("/dev/shm").iterdir() if p.lstat().st_uid == 10001}


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the exporter itself, as `docker stop` does: buildah 1.28 answers a SIGTERM of its own with
    SIGKILL to the command. Then whatever is left of the process group (buildah's own processes)."""
    for pid in group_members(proc.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/opt/venv/bin/python"):
                os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def group_members(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its closing parenthesis.
            if int(stat.read_text().rpartition(")")[2].split()[2]) == pgid:
                pids.append(int(stat.parent.name))
    return pids


def healthcheck(image: dict[str, Any], port: int) -> None:
    """The image's HEALTHCHECK command, pointed at the test's port, passes while the exporter serves. In a
    writable container of its own: there buildah's exit status is the command's."""
    test = image["Healthcheck"]["Test"]
    assert test[0] == "CMD" and "http://127.0.0.1:9340/healthz" in " ".join(test), test
    cmd = [arg.replace(":9340/", f":{port}/") for arg in test[1:]]
    with container(read_only=False) as (ctr, _root):
        checked = run("buildah", "run", "--isolation", "chroot", ctr, "--", *cmd)
    assert checked.returncode == 0, checked.stderr


def test_the_build_hosts_extra_ca_stays_out_of_the_image(image: dict[str, Any]) -> None:
    """scripts/build-image.sh lends pip the CA bundle this machine's pip is told to trust (a TLS-intercepting
    proxy) through a bind mount; the image must keep its base's bundle."""
    bundles = [os.environ.get(v, "") for v in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")]
    host = next((Path(b) for b in bundles if b and Path(b).is_file()), None)
    if host is None:
        pytest.skip("no extra CA bundle configured for pip here: nothing was lent to the build")
    bundle = "etc/ssl/certs/ca-certificates.crt"
    with container(read_only=False) as (_ctr, root):
        shipped = Path(root, bundle).read_bytes()
    with container(read_only=False, of=BASE) as (_ctr, root):
        assert shipped == Path(root, bundle).read_bytes()
    assert shipped != host.read_bytes()
