"""Which loopback ports the twin's services listen on, and checks that they are free."""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

HOST = "127.0.0.1"

#: Environment variables that override each default port (first one set wins).
PORT_ENV_VARS: dict[str, tuple[str, ...]] = {
    "mage": ("MAGE_PORT", "TWIN_MAGE_PORT"),
    "postgres": ("TWIN_POSTGRES_PORT",),
    "gcs": ("TWIN_GCS_PORT",),
    "bigquery": ("TWIN_BIGQUERY_PORT",),
    "bigquery_grpc": ("TWIN_BIGQUERY_GRPC_PORT",),
    "files": ("TWIN_FILES_PORT",),
}


class PortError(ValueError):
    """A port setting is invalid or the port is taken."""


@dataclass(frozen=True)
class TwinPorts:
    """TCP ports on 127.0.0.1, one per service."""

    mage: int = 6789
    postgres: int = 5433
    gcs: int = 9023
    bigquery: int = 9050
    bigquery_grpc: int = 9060
    files: int = 8765

    def __post_init__(self) -> None:
        for name, port in asdict(self).items():
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise PortError(
                    f"The {name} port {port!r} is not a valid TCP port; use a number from 1 to 65535."
                )
        seen: dict[int, str] = {}
        for name, port in asdict(self).items():
            if port in seen:
                raise PortError(
                    f"The {seen[port]} and {name} services are both set to port {port}; "
                    "give each service its own port."
                )
            seen[port] = name

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: int | None
    ) -> TwinPorts:
        """Defaults, then environment variables (``MAGE_PORT``, ``TWIN_<SERVICE>_PORT``), then overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, variables in PORT_ENV_VARS.items():
            for variable in variables:
                raw = environ.get(variable, "").strip()
                if raw:
                    try:
                        values[name] = int(raw)
                    except ValueError:
                        raise PortError(
                            f"{variable}={raw!r} is not a port number; set it to an integer such as "
                            f"{getattr(cls, name)} or unset it."
                        ) from None
                    break
        values.update({name: port for name, port in overrides.items() if port is not None})
        return cls(**values)

    @classmethod
    def free(cls) -> TwinPorts:
        """Ports free right now, each reserved for this process (:func:`free_port`; for tests)."""
        return cls(*(free_port() for _ in fields(cls)))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


#: Open reservation locks (:func:`reserve_port`): held until this process exits.
_RESERVED: dict[int, object] = {}


def port_lock_path(port: int) -> Path:
    """The file whose ``flock`` reserves ``port`` (shared by every process of the machine)."""
    return Path(tempfile.gettempdir()) / f"mage-gcp-twin-port-{port}.lock"


def reserve_port(port: int) -> bool:
    """Take ``port`` for this process unless this or another living process took it (an
    exclusive ``flock`` on a file per port in the temp folder, which the kernel releases when
    its holder exits); True when this call took it."""
    if port in _RESERVED:
        return False
    try:
        handle = open(port_lock_path(port), "a")  # noqa: SIM115 - held until the process exits
    except OSError:  # another user's lock file (e.g. root's, 0644 in sticky /tmp): theirs
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _RESERVED[port] = handle
    return True


def free_port() -> int:
    """A loopback port the kernel reports free now, reserved for this process's lifetime (for
    tests: `make test`'s workers each choose ports, and a port one chose but has not bound yet
    must not be handed to another, nor twice to the same)."""
    offered = []
    try:
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            offered.append(sock)  # held open until the end: the kernel offers another port next
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
            if reserve_port(port):
                return port
    finally:
        for sock in offered:
            sock.close()


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``host:port`` (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_ports_free(ports: TwinPorts, services: list[str]) -> None:
    """Raise :class:`PortError` naming the first service whose port is taken."""
    for name in services:
        port = getattr(ports, name)
        if not port_is_free(port):
            flag = "--port-" + name.replace("_", "-")
            env = PORT_ENV_VARS[name][0]
            raise PortError(
                f"Port {port} for {name} on {HOST} is already in use by another program; "
                f"stop that program or choose another port with {flag} or {env}."
            )
