"""Keeps the Helm chart's copies of the alerting rules and the dashboards identical to their sources.

    python -m deploy.helm.generate          # copy alerts/kafka-cluster-exporter.rules.yml and dashboards/*.json
    python -m deploy.helm.generate --check  # exit 1 when a copy in the chart differs (or is missing, or extra)

One source of truth: alerts/ and dashboards/ are what the tests (promtool, the live alerting test) check. A chart
can only read files inside its own directory (.Files.Get), so it gets byte-for-byte copies under files/; its
templates (prometheusrule.yaml, dashboards.yaml) render them untemplated, which also spares the rules'
{{ $labels.x }} annotations from Helm's template engine.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = Path("deploy", "helm", "kafka-cluster-exporter")  # relative to the repository's root
RULES = Path("alerts", "kafka-cluster-exporter.rules.yml")


def copies(root: Path = ROOT) -> dict[Path, bytes]:
    """Every file the chart must hold under files/, with the bytes it must hold."""
    out = {root / CHART / "files" / RULES.name: (root / RULES).read_bytes()}
    for board in sorted((root / "dashboards").glob("*.json")):
        out[root / CHART / "files" / "dashboards" / board.name] = board.read_bytes()
    return out


def stale(root: Path = ROOT) -> list[str]:
    """Chart files that differ from their source, are missing, or have no source any more."""
    want = copies(root)
    files = root / CHART / "files"
    bad = [str(p.relative_to(root)) for p, data in want.items() if not p.exists() or p.read_bytes() != data]
    bad += [str(p.relative_to(root)) for p in sorted(files.rglob("*")) if p.is_file() and p not in want]
    return bad


def write(root: Path = ROOT) -> None:
    want = copies(root)
    for p in (root / CHART / "files").rglob("*"):
        if p.is_file() and p not in want:
            p.unlink()  # a dashboard removed from dashboards/ leaves the chart too
    for p, data in want.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the chart's copies differ from the sources")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.check:
        write(args.root)
        return 0
    bad = stale(args.root)
    if bad:
        print(f"out of date (run python -m deploy.helm.generate): {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
