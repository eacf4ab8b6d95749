"""The demo as a newcomer runs it (without --story): its Prometheus fires the single-replica topic's drift alert,
the demo prints it, and Ctrl-C leaves nothing of it running."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import urllib.error

import pytest

from harness.monitoring import ROOT, free_port, get_json, query

pytestmark = pytest.mark.cluster


@pytest.mark.timeout(150)
def test_the_demo_fires_its_alerts_and_cleans_up() -> None:
    started = time.monotonic()
    port, prom, am = free_port(), free_port(), free_port()
    argv = [sys.executable, "-m", "harness.demo", "--port", str(port)]
    argv += ["--prometheus-port", str(prom), "--alertmanager-port", str(am)]
    demo = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in demo.stdout or ():
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    prometheus = f"http://127.0.0.1:{prom}"
    drift = 'ALERTS{alertname="KafkaTopicReplicationFactorDrift", topic="clicks", alertstate="firing"}'
    printed = "FIRING   KafkaTopicReplicationFactorDrift topic=clicks (warning)"
    try:
        deadline = time.monotonic() + 120
        while not any(printed in line for line in lines):
            assert demo.poll() is None, "the demo exited:\n" + "".join(lines)
            assert time.monotonic() < deadline, "no drift alert printed:\n" + "".join(lines)
            time.sleep(1)
        assert query(prometheus, drift) == [1.0]
        fired = time.monotonic() - started
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()  # its JVMs, Prometheus and Alertmanager die with it (PR_SET_PDEATHSIG)
            raise
    reader.join(10)
    assert code == 0 and "stopped; everything it started is gone." in "".join(lines), "".join(lines[-20:])
    with pytest.raises(urllib.error.URLError):
        get_json(f"{prometheus}/-/ready")
    print(f"the demo's drift alert printed {fired:.0f}s after start; stopped after {time.monotonic() - started:.0f}s")
