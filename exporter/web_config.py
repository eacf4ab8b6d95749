"""The web configuration file every Prometheus exporter shares (`--web.config.file`, the format of
prometheus/exporter-toolkit): TLS for the exporter's endpoint, client certificates, and basic auth with bcrypt
hashes. Parsed as strictly as the main config: a key this exporter does not know or cannot honour is an error
naming it (exit 2), never silently ignored, since ignoring a security setting would weaken it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from exporter.config import ConfigError, parse_section

# exporter-toolkit's client_auth_type values, and what they mean for Python's ssl module.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Paths left open with basic auth, for the probes of orchestrators (Kubernetes liveness and readiness), which
# carry no credentials. They tell nothing about the cluster.
OPEN_PATHS = frozenset({"/healthz", "/ready"})
# exporter-toolkit keys this exporter does not implement: an error, not silently weaker security.
UNSUPPORTED = {
    "cipher_suites": "Python's ssl module takes OpenSSL cipher names, not Go's; leave it out for OpenSSL's defaults",
    "curve_preferences": "not supported; leave it out for OpenSSL's defaults",
    "prefer_server_cipher_suites": "not supported; leave it out",
    "client_allowed_sans": "not supported; use client_ca_file to restrict clients",
    "http2": "not supported (HTTP/1.1 only); leave it out",
}


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: str = "TLS12"
    max_version: str | None = None
    # Accepted so a toolkit file parses; each is refused with a reason (UNSUPPORTED).
    cipher_suites: tuple[str, ...] | None = None
    curve_preferences: tuple[str, ...] | None = None
    prefer_server_cipher_suites: bool | None = None
    client_allowed_sans: tuple[str, ...] | None = None


@dataclass(frozen=True)
class HttpServerConfig:
    # Extra response headers, e.g. Strict-Transport-Security.
    headers: dict[str, str] = field(default_factory=dict)
    http2: bool | None = None


@dataclass(frozen=True)
class WebSecurity:
    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = field(default_factory=HttpServerConfig)
    # user -> bcrypt hash (e.g. from `htpasswd -nBC 10 "" | tr -d ':\n'`).
    basic_auth_users: dict[str, str] = field(default_factory=dict)


def load_web_config(path: str | Path) -> WebSecurity:
    """The parsed file, with its certificate files read once to check them; a ConfigError naming the field."""
    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{where}: cannot read web config file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    cfg: WebSecurity = parse_section(WebSecurity, data or {}, "web config")
    base = Path(path).parent
    tls = cfg.tls_server_config
    if tls is not None:
        for key, reason in UNSUPPORTED.items():
            if getattr(tls, key, None) is not None:
                raise ConfigError(f"web config: tls_server_config.{key}: {reason}")
        if tls.client_auth_type not in CLIENT_AUTH:
            raise ConfigError(
                f"web config: tls_server_config.client_auth_type: {tls.client_auth_type!r} is not one of "
                f"{', '.join(CLIENT_AUTH)}"
            )
        verifies = tls.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
        if verifies and not tls.client_ca_file:
            raise ConfigError(
                f"web config: tls_server_config.client_ca_file: required with client_auth_type {tls.client_auth_type}"
            )
        for key in ("min_version", "max_version"):
            v = getattr(tls, key)
            if v is not None and v not in TLS_VERSIONS:
                raise ConfigError(f"web config: tls_server_config.{key}: {v!r} is not one of {', '.join(TLS_VERSIONS)}")
        ssl_context(tls, base)  # the files exist and match, or a ConfigError now rather than at the first scrape
    if cfg.http_server_config.http2 is not None:
        raise ConfigError(f"web config: http_server_config.http2: {UNSUPPORTED['http2']}")
    for user, hashed in cfg.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(
                f"web config: basic_auth_users.{user}: not a bcrypt hash (it starts with $2a$, $2b$ or $2y$; "
                "make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
            )
    return cfg


def _file(base: Path, name: str) -> str:
    p = Path(name)
    return str(p if p.is_absolute() else base / p)


def ssl_context(tls: TlsServerConfig, base: Path) -> ssl.SSLContext:
    """The server's TLS context; relative file names are relative to the web config file, as in the toolkit."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[tls.min_version]
    if tls.max_version is not None:
        ctx.maximum_version = TLS_VERSIONS[tls.max_version]
    try:
        ctx.load_cert_chain(_file(base, tls.cert_file), _file(base, tls.key_file))
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"web config: tls_server_config.cert_file/key_file: cannot load them: {e}") from None
    ctx.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file:
        try:
            ctx.load_verify_locations(_file(base, tls.client_ca_file))
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"web config: tls_server_config.client_ca_file: cannot load it: {e}") from None
    return ctx


class BasicAuth:
    """Checks credentials against bcrypt hashes. bcrypt is slow on purpose (tens of ms per check), so a check
    runs in a thread and a verified (user, password) is remembered by a keyed digest, as exporter-toolkit does:
    Prometheus sends the same credentials every scrape."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {u: h.encode() for u, h in users.items()}
        self._key = hashlib.sha256(repr(sorted(users.items())).encode()).digest()
        self._verified: set[bytes] = set()

    def _digest(self, user: str, password: str) -> bytes:
        return hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()

    async def allows(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self._users.get(user)
        if not sep or hashed is None:
            return False
        digest = self._digest(user, password)
        if digest in self._verified:
            return True
        ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed)
        if ok:
            self._verified.add(digest)
        return ok


def middleware(cfg: WebSecurity) -> Middleware:
    """Basic auth on every path but OPEN_PATHS (401 with a challenge otherwise), and the configured headers."""
    auth = BasicAuth(cfg.basic_auth_users) if cfg.basic_auth_users else None
    headers = dict(cfg.http_server_config.headers)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        credentials = request.headers.get("Authorization")
        if auth is not None and request.path not in OPEN_PATHS and not await auth.allows(credentials):
            raise web.HTTPUnauthorized(
                text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="kafka-cluster-exporter"'}
            )
        response: web.StreamResponse = await handler(request)
        response.headers.update(headers)
        return response

    return guard
