"""Write environment.yml from requirements.lock so conda users get the same pins.

Usage: python tools/sync_environment.py [--check]
With --check, exit 1 when environment.yml is out of step with the lock.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)")


def lock_pins(lock: Path = ROOT / "requirements.lock") -> dict[str, str]:
    """Package -> version for every ``name==version`` line of the lock file."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def environment_yaml(pins: dict[str, str]) -> str:
    """The environment.yml text: Python 3.11 from conda-forge, every pin through pip."""
    lines = [
        "# Generated from requirements.lock by tools/sync_environment.py: do not edit by hand.",
        "name: insurereco",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
        *[f"      - {name}=={version}" for name, version in sorted(pins.items())],
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    target = ROOT / "environment.yml"
    text = environment_yaml(lock_pins())
    if "--check" in argv:
        if not target.is_file() or target.read_text() != text:
            print("environment.yml is out of step with requirements.lock: run make lock")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
