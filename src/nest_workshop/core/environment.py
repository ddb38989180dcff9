"""What is installed, checked the same way by a notebook's first cell and by
``nest-workshop doctor``.

Versions are read from package metadata, not by importing: importing NEAT, for
example, creates a ``neatcache/`` folder in the working directory.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from dataclasses import dataclass

# Distribution name -> what a participant knows it as.
SIMULATION_PACKAGES = {"nest-simulator": "NEST", "nestml": "NESTML", "nest-neat": "NEAT"}


@dataclass
class PackageStatus:
    distribution: str
    label: str
    required: str | None  # the pinned version, from this package's own metadata
    installed: str | None

    @property
    def ok(self) -> bool:
        return self.installed is not None and (self.required is None or self.installed == self.required)

    @property
    def pip_line(self) -> str:
        spec = f"{self.distribution}=={self.required}" if self.required else self.distribution
        return f"%pip install {spec}"


def pinned_versions() -> dict[str, str]:
    """``{distribution: version}`` of the exact pins in this package's dependencies."""
    try:
        requirements = importlib.metadata.requires("nest-workshop") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", requirement)
        if match and "extra ==" not in requirement:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def package_status(distributions=SIMULATION_PACKAGES) -> list[PackageStatus]:
    pins = pinned_versions()
    statuses = []
    for distribution, label in distributions.items():
        try:
            installed = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        statuses.append(PackageStatus(distribution, label, pins.get(distribution), installed))
    return statuses


def check_environment(parts=("NEST",)) -> bool:
    """Print the versions a notebook relies on; say exactly what to install when one
    is missing or different. ``parts`` names the packages this notebook needs
    (any of "NEST", "NESTML", "NEAT"). Returns True when all needed ones are fine."""
    from .. import __version__

    needed = {dist: label for dist, label in SIMULATION_PACKAGES.items() if label in parts}
    unknown = set(parts) - set(SIMULATION_PACKAGES.values())
    if unknown:
        raise ValueError(f"unknown package names {sorted(unknown)}; use some of {list(SIMULATION_PACKAGES.values())}")
    print(f"Python {sys.version.split()[0]}, nest_workshop {__version__}")
    all_ok = True
    for status in package_status(needed):
        if status.ok:
            print(f"  ✔ {status.label} {status.installed}")
        elif status.installed is None:
            all_ok = False
            print(f"  ✘ {status.label} is not installed. Run this in a cell, then restart the kernel:\n      {status.pip_line}")
        else:
            all_ok = False
            print(
                f"  ! {status.label} {status.installed} is installed; this notebook was tested with {status.required}. "
                f"If something fails, run in a cell and restart the kernel:\n      {status.pip_line}"
            )
    if sys.version_info[:2] != (3, 11):
        print(f"  ! Python {sys.version_info[0]}.{sys.version_info[1]}: the materials are tested with Python 3.11.")
    return all_ok
