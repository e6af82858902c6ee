"""`TwinPorts.free()` for tests: a port one process chose (and may not have bound yet) is never
handed to another process while the first lives; `make test` runs several workers at once."""

from __future__ import annotations

import socket
import subprocess
import sys

from twin import ports

HOLD = (
    "import sys; from twin.ports import TwinPorts; "
    "print(TwinPorts.free().postgres, flush=True); sys.stdin.read()"
)


def test_a_port_another_living_process_chose_is_not_handed_out(monkeypatch):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        taken = int(holder.stdout.readline())
        offered = iter([taken])  # the kernel offers the holder's port again first

        class Offering(socket.socket):
            def getsockname(self):
                host, port = super().getsockname()
                return host, next(offered, port)

        monkeypatch.setattr(ports.socket, "socket", Offering)
        mine = ports.TwinPorts.free()
        monkeypatch.undo()
        assert taken not in mine.as_dict().values()
        assert len(set(mine.as_dict().values())) == len(mine.as_dict())
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert ports.reserve_port(taken), "the port stays reserved after its holder exited"


def test_a_port_whose_lock_file_another_user_owns_is_not_taken():
    """Root's lock files stay in sticky /tmp (0644): a user cannot open them, and must take
    the port for someone else's rather than fail (a directory stands in: root can open
    anything else)."""
    port = ports.free_port()
    other = port + 1 if port < 65535 else port - 1
    lock = ports.port_lock_path(other)
    if lock.exists():
        lock.unlink()
    lock.mkdir()
    try:
        assert not ports.reserve_port(other)
    finally:
        lock.rmdir()
