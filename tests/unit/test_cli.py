"""Command-line parsing: options given before the command count (the image's ENTRYPOINT passes --config first)."""

from __future__ import annotations

import pytest

from exporter.cli import _parser


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "/etc/kce.yaml"],
        ["--config", "/etc/kce.yaml", "run"],
        ["run", "--config", "/etc/kce.yaml"],
        ["--config", "/etc/kce.yaml", "check"],
        ["--config", "/etc/kce.yaml", "check", "--stop-broker", "3"],
        ["--config", "/etc/kce.yaml", "plan", "drain", "--from", "1", "--to", "2", "--output-dir", "/tmp/x"],
        ["--config", "/other.yaml", "check", "--config", "/etc/kce.yaml"],  # the later one wins
    ],
)
def test_config_before_or_after_the_command(argv: list[str]) -> None:
    assert _parser().parse_args(argv).config == "/etc/kce.yaml"


def test_no_config_is_none_not_missing() -> None:
    assert _parser().parse_args(["check"]).config is None
    args = _parser().parse_args(["--listen", "127.0.0.1:1", "run"])
    assert (args.listen, args.web_config) == ("127.0.0.1:1", None)
