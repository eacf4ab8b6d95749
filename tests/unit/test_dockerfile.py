"""The Dockerfile's invariants, without building it: one file serves `docker build .` (python:3.11-slim) and
scripts/build-image.sh (Debian bases made here), so what the image promises is checked on the file itself."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exporter.config import WebConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = "/etc/kafka-cluster-exporter/config.yaml"


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.steps if i == instruction]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs (name -> default) and the stages, with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        if (line := (pending + raw).strip()) != "":
            lines.append(line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            words = rest.split()
            stages.append(Stage(words[0], words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        elif not stages:
            assert instruction == "ARG", f"only ARG may precede the first FROM, found {line!r}"
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            stages[-1].steps.append((instruction, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse((ROOT / "Dockerfile").read_text())


def test_multi_stage_wheels_built_apart_from_the_final_image(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert build.name == "build"
    assert any("pip wheel" in run for run in build.args("RUN"))
    assert final.args("COPY") == ["--from=build /opt/venv /opt/venv"]
    # No pip in the final stage: nothing is downloaded or built there, and the venv that ships has no pip.
    assert not any("pip" in run for run in final.args("RUN"))


def test_bases_are_build_args_for_docker_and_the_local_build(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    global_args, stages = dockerfile
    assert global_args == {"BUILD_BASE": "python:3.11-slim", "BASE": "python:3.11-slim"}
    assert [s.base for s in stages] == ["${BUILD_BASE}", "${BASE}"]
    script = (ROOT / "scripts/build-image.sh").read_text()
    assert re.search(r'--build-arg BUILD_BASE="\$BUILD_BASE" --build-arg BASE="\$BASE"', script)
    assert "BASE=localhost/kce-base:bookworm" in script and "BUILD_BASE=localhost/kce-build-base:bookworm" in script
    # Paths that differ between the bases (python in /usr/local/bin or /usr/bin) must not appear.
    steps = " ".join(a for stage in stages for _, a in stage.steps)
    assert "/usr/local/bin" not in steps and "/usr/bin/python" not in steps


def test_runs_as_a_non_root_user(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    final = dockerfile[1][-1]
    users = final.args("USER")
    assert users, "the final stage sets no USER: the exporter would run as root"
    uid = users[-1].partition(":")[0]
    assert uid == "10001"
    assert any("exporter:x:10001:10001:" in run for run in final.args("RUN")), "uid 10001 has no passwd entry"


def test_read_only_root_filesystem_needs_no_bytecode_writes(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    build, final = dockerfile[1][0], dockerfile[1][-1]
    env = " ".join(final.args("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PATH=/opt/venv/bin:" in env
    install = next(run for run in build.args("RUN") if "install" in run and "/opt/venv" in run)
    assert "--no-compile" not in install and "SOURCE_DATE_EPOCH" in install  # .pyc made at build, hash-checked


def test_healthcheck_probes_healthz_on_the_default_port(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    final = dockerfile[1][-1]
    (check,) = final.args("HEALTHCHECK")
    assert "CMD" in check
    port = WebConfig().listen_address.rpartition(":")[2]
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert final.args("EXPOSE") == [port]


def test_entrypoint_is_the_console_script_with_the_documented_config(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    final = dockerfile[1][-1]
    (entrypoint,) = final.args("ENTRYPOINT")
    argv = json.loads(entrypoint)  # exec form: the exporter is PID 1 and gets SIGTERM itself
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv == ["kafka-cluster-exporter", "--config", CONFIG_PATH]
    assert argv[0] in scripts
    assert not final.args("CMD")  # arguments after the image name go to the exporter (`check`, `plan ...`)
    assert any(shlex.split(run)[-1] == CONFIG_PATH.rpartition("/")[0] for run in final.args("RUN")), (
        "the config directory must exist in the image (a mount point on a read-only root)"
    )
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^#{2,4} Container image\n(.*?)(?=^#{1,4} )", readme, re.S | re.M)
    assert section and CONFIG_PATH in section[1], "README's Container image section names the config path"
