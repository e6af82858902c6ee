"""The twin's state file: which processes run, on which ports, started by whom."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "state.json"


@dataclass
class ServiceRecord:
    """One running service: its process group and how to reach it."""

    name: str
    pid: int
    pgid: int
    start_time: float | None
    url: str
    log: str


@dataclass
class TwinState:
    """Everything ``python -m twin down``/``status`` need from another terminal."""

    owner_pid: int
    owner_start_time: float | None
    ports: dict[str, int]
    mage: bool
    data_dir: str
    services: list[ServiceRecord] = field(default_factory=list)

    def save(self, state_dir: Path) -> None:
        """Write atomically (rename), so a reader never sees half a file."""
        path = state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, state_dir: Path) -> TwinState | None:
        """The recorded state, or None when there is none (or it is unreadable)."""
        path = state_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
            services = [ServiceRecord(**s) for s in raw.pop("services", [])]
            return cls(**raw, services=services)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None

    @staticmethod
    def remove(state_dir: Path) -> None:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
