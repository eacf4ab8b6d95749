"""Secrets out of the log. The exporter never logs them itself, but kafka-python at debug level logs whole
requests, SaslAuthenticate included (a PLAIN password in clear): every handler gets this filter."""

from __future__ import annotations

import logging

from exporter.config import Config

MASK = "[secret]"


def secrets(cfg: Config) -> list[str]:
    """Every password the config holds (written in, from ${VAR} or from a file)."""
    found: list[str | None] = []
    for c in cfg.clusters:
        found += [v for k, v in c.client.items() if k in ("sasl.password", "ssl.key.password")]
        zk = c.zookeeper
        if zk is not None:
            found += [zk.sasl.password if zk.sasl else None, zk.tls.key_password if zk.tls else None]
    return sorted({s for s in found if s}, key=len, reverse=True)  # longest first: one may contain another


class Redact(logging.Filter):
    def __init__(self, hidden: list[str]) -> None:
        super().__init__()
        self._hidden = hidden

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self._hidden):
            for s in self._hidden:
                message = message.replace(s, MASK)
            record.msg, record.args = message, ()
        return True


def redact_logs(cfg: Config, handlers: list[logging.Handler]) -> None:
    hidden = secrets(cfg)
    if hidden:
        for h in handlers:
            h.addFilter(Redact(hidden))
