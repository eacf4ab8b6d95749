"""The exporter's endpoint behind TLS and basic auth (`--web.config.file`, the format every Prometheus exporter
shares), checked with a real TLS client and with Prometheus itself scraping through `tls_config` and
`basic_auth`; and the file parsed as strictly as the main config."""

from __future__ import annotations

import asyncio
import base64
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import trustme
import yaml

from exporter.config import ConfigError
from exporter.web_config import load_web_config
from harness.monitoring import daemon, free_port
from tests.integration.test_alerting_live import eventually

pytestmark = pytest.mark.cluster  # starts the exporter and Prometheus (no Kafka)

PASSWORD = "s3cret-scrape"


def pki(tmp: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate; the CA's file."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(tmp / "server.crt"))
    server.private_key_pem.write_to_path(str(tmp / "server.key"))
    ca.cert_pem.write_to_path(str(tmp / "ca.crt"))
    client = ca.issue_cert("prometheus@example.com")
    client.private_key_and_cert_chain_pem.write_to_path(str(tmp / "client.pem"))
    return tmp / "ca.crt"


def web_config(tmp: Path, **tls: str) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    data = {
        "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", **tls},
        "basic_auth_users": {"prometheus": hashed},
        "http_server_config": {"headers": {"Strict-Transport-Security": "max-age=31536000"}},
    }
    path = tmp / "web.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def exporter_argv(tmp: Path, port: int, web: Path) -> list[str]:
    cfg = tmp / "config.yaml"
    # No Kafka is needed: the endpoint serves the exporter's own metrics for an unreachable cluster.
    cfg.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "bootstrap_servers": f"127.0.0.1:{free_port()}",
                        "collection": {"interval_seconds": 1, "timeout_seconds": 2, "request_timeout_seconds": 1},
                    }
                ]
            }
        )
    )
    return [
        sys.executable,
        "-m",
        "exporter",
        "--config",
        str(cfg),
        "--listen",
        f"127.0.0.1:{port}",
        "--web.config.file",
        str(web),
    ]


def get(
    url: str, ctx: ssl.SSLContext | None, user: str | None = None, password: str = PASSWORD
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=ctx) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def wait_listening(url: str, ctx: ssl.SSLContext, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            get(url + "/healthz", ctx)
            return
        except (urllib.error.URLError, ConnectionError, ssl.SSLError):
            time.sleep(0.2)
    raise AssertionError(f"the exporter never listened: {log.read_text()}")


async def test_tls_and_basic_auth_with_a_real_client_and_prometheus(tmp_path: Path) -> None:
    ca_file = pki(tmp_path)
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    trusting = ssl.create_default_context(cafile=str(ca_file))
    log = tmp_path / "exporter.log"
    with daemon(exporter_argv(tmp_path, port, web_config(tmp_path)), log) as proc:
        await asyncio.to_thread(wait_listening, base, trusting, proc, log)
        # Probes stay open (Kubernetes liveness/readiness carry no credentials); everything else needs them.
        assert (await asyncio.to_thread(get, base + "/healthz", trusting))[0] == 200
        status, headers, _ = await asyncio.to_thread(get, base + "/metrics", trusting)
        assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Basic"), (status, headers)
        assert (await asyncio.to_thread(get, base + "/metrics", trusting, "prometheus", "wrong"))[0] == 401
        assert (await asyncio.to_thread(get, base + "/metrics", trusting, "nobody"))[0] == 401
        assert (await asyncio.to_thread(get, base + "/", trusting))[0] == 401
        status, headers, body = await asyncio.to_thread(get, base + "/metrics", trusting, "prometheus")
        assert status == 200 and "kafka_exporter_build_info" in body
        assert headers.get("Strict-Transport-Security") == "max-age=31536000"
        # A client that does not trust the CA, and plain HTTP, get nothing.
        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(get, base + "/healthz", ssl.create_default_context())
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics", None, "prometheus")
        assert "https, basic auth" in log.read_text()

        # Prometheus itself, through tls_config and basic_auth.
        prom_port = free_port()
        (tmp_path / "pw").write_text(PASSWORD)
        scrape = {
            "job_name": "kafka-cluster-exporter",
            "scheme": "https",
            "tls_config": {"ca_file": str(ca_file), "server_name": "localhost"},
            "basic_auth": {"username": "prometheus", "password_file": str(tmp_path / "pw")},
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }
        wrong = {**scrape, "job_name": "wrong-password", "basic_auth": {"username": "prometheus", "password": "x"}}
        prom = tmp_path / "prometheus.yml"
        prom.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": [scrape, wrong]}))
        argv = [
            "prometheus",
            f"--config.file={prom}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        with daemon(argv, tmp_path / "prometheus.log"):

            async def up() -> dict[str, str] | None:
                url = f"http://127.0.0.1:{prom_port}/api/v1/query?query=up"
                try:
                    _, _, body = await asyncio.to_thread(get, url, None)
                except (urllib.error.URLError, ConnectionError):
                    return None
                result = yaml.safe_load(body)["data"]["result"]
                jobs = {r["metric"]["job"]: r["value"][1] for r in result}
                return jobs if len(jobs) == 2 else None

            jobs = await eventually(up, 60, "Prometheus scraped both jobs")
            assert jobs == {"kafka-cluster-exporter": "1", "wrong-password": "0"}, jobs


async def test_mutual_tls_refuses_a_client_without_a_certificate(tmp_path: Path) -> None:
    ca_file = pki(tmp_path)
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    web = web_config(tmp_path, client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt")
    with_cert = ssl.create_default_context(cafile=str(ca_file))
    with_cert.load_cert_chain(str(tmp_path / "client.pem"))
    log = tmp_path / "exporter.log"
    with daemon(exporter_argv(tmp_path, port, web), log) as proc:
        await asyncio.to_thread(wait_listening, base, with_cert, proc, log)
        assert (await asyncio.to_thread(get, base + "/metrics", with_cert, "prometheus"))[0] == 200
        without = ssl.create_default_context(cafile=str(ca_file))
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
            await asyncio.to_thread(get, base + "/healthz", without)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"basic_auth_user": {}}, "web config.basic_auth_user: unknown key; did you mean 'basic_auth_users'?"),
        ({"basic_auth_users": {"p": "plaintext"}}, "basic_auth_users.p: not a bcrypt hash"),
        (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", "client_auth_type": "Yes"}},
            "tls_server_config.client_auth_type: 'Yes' is not one of",
        ),
        (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", "cipher_suites": ["X"]}},
            "tls_server_config.cipher_suites: Python's ssl module takes OpenSSL cipher names",
        ),
        (
            {"tls_server_config": {"cert_file": "missing.crt", "key_file": "server.key"}},
            "tls_server_config.cert_file/key_file: cannot load them",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "server.crt",
                    "key_file": "server.key",
                    "client_auth_type": "RequireAndVerifyClientCert",
                }
            },
            "client_ca_file: required with client_auth_type RequireAndVerifyClientCert",
        ),
        ({"tls_server_config": {"key_file": "server.key"}}, "tls_server_config.cert_file: required key is missing"),
    ],
)
def test_a_bad_web_config_names_the_field(tmp_path: Path, data: dict[str, object], message: str) -> None:
    pki(tmp_path)
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        load_web_config(path)
    assert message in str(e.value)
    # And the command exits 2 with that one line, before watching any cluster.
    port = free_port()
    run = subprocess.run(exporter_argv(tmp_path, port, path), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr


async def test_hostile_clients_neither_crash_the_server_nor_delay_scrapes(tmp_path: Path) -> None:
    """Half-sent requests held open (slow clients), garbage bytes, huge headers and odd query strings, while a
    well-behaved client scrapes: every scrape answers, quickly, and the process lives on."""
    port = free_port()
    argv = exporter_argv(tmp_path, port, tmp_path / "unused")[:-2]  # plain HTTP, no web config
    log = tmp_path / "exporter.log"
    base = f"http://127.0.0.1:{port}"

    async def scrape() -> float:
        started = time.monotonic()
        status, _, body = await asyncio.to_thread(get, base + "/metrics", None)
        assert status == 200 and "kafka_exporter_build_info" in body
        return time.monotonic() - started

    with daemon(argv, log) as proc:
        deadline = time.monotonic() + 30
        while True:
            try:
                await scrape()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
                await asyncio.sleep(0.2)
        quiet = [await scrape() for _ in range(20)]
        # 200 slow clients: each sends half a request line and then nothing.
        slow = []
        for _ in range(200):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(writer)
        hostile = [
            b"\x00\xff\x16\x03\x01garbage\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
            b"GET /metrics?cluster=%00%ff&cluster=&&=%%%zz HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /" + b"a/" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nxx",
            b"GET /metrics HTTP/9.9\r\n\r\n",
        ]
        answers = []
        for raw in hostile:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            try:
                answers.append((await asyncio.wait_for(reader.read(200), 5)).split(b"\r\n", 1)[0])
            except (ConnectionError, TimeoutError):
                answers.append(b"(closed)")
            writer.close()
        busy = [await scrape() for _ in range(20)]
        for w in slow:
            w.close()
        assert proc.poll() is None, log.read_text()
        assert "Traceback" not in log.read_text()
        print(
            f"hostile requests answered {answers}; scrape p50 quiet {1000 * sorted(quiet)[10]:.1f} ms, "
            f"max with 200 slow clients open {1000 * max(busy):.1f} ms"
        )
        assert all(not a.startswith(b"HTTP/1.1 5") for a in answers), answers
        assert max(busy) < 1.0, busy
