"""A block run Mage's scheduler queued starts even when its worker pool left too early (the twin's
Mage: scripts/mage_runner/mage_site/sitecustomize.py).

Mage 0.9.80's ``ProcessQueue.enqueue`` puts the job on a ``multiprocessing.Queue`` (a feeder
thread writes it into the pipe later) and forks a worker pool that leaves when the queue looks
empty. On a loaded machine the pool looks first and leaves; the job then waits with no pool while
``has_job`` calls it alive, until another job is enqueued (a Run@once stayed "running" 5 minutes
in the full suite, tests/ui/test_notebook_runs.py). Here the feeder thread is made slow, as load
makes it, which reproduces that state every time; then Mage's scheduler ticks (``clean_up_jobs``,
which it calls on every tick) must start the job. The processes are Mage's: the queue is made in
the server's process and used in the scheduler's, forked from it (a patch that looked for its own
PID in the queue's ``client_id`` never fired there, and the Run@once test still timed out).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mage_runner.site import MAGE_SITE

FEEDER_DELAY_S = 2
TICKS = 8  # scheduler ticks (1 s apart here; Mage's are 10 s apart)

SCHEDULER = f"""
import multiprocessing, sys, time
from pathlib import Path
from mage_ai.orchestration.queue.config import QueueConfig
from mage_ai.orchestration.queue.process_queue import ProcessQueue

mark = Path(sys.argv[1])

def block_run(path):
    Path(path).write_text("ran")

def scheduler(queue):
    queue.start()
    send = queue.queue._send_bytes  # the feeder thread takes it at the first put

    def slow_send(data):
        time.sleep({FEEDER_DELAY_S})  # a loaded machine's feeder thread
        send(data)

    queue.queue._send_bytes = slow_send
    queue.enqueue("block_run_1", block_run, str(mark))
    while queue.queue.empty():  # the job reaches the pipe...
        time.sleep(0.1)
    assert not queue.is_worker_pool_alive(), "the pool did not leave early: no race reproduced"
    print("pool left with the job queued", flush=True)  # ...after the pool left
    for _ in range({TICKS}):
        if mark.exists():
            break
        queue.clean_up_jobs()
        time.sleep(1)
    print("result:", "ran" if mark.exists() else "stuck", flush=True)

# As Mage's server does: it makes the job manager's queue when it imports the scheduler module,
# then forks the scheduler's process (mage_ai/server/scheduler_manager.py), which starts it.
queue = ProcessQueue(QueueConfig())
proc = multiprocessing.get_context("fork").Process(target=scheduler, args=(queue,))
proc.start()
proc.join()
assert proc.exitcode == 0, proc.exitcode
"""


def schedule_one_block_run(tmp_path: Path, twin_site: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MAGE_DATABASE_CONNECTION_URL"] = f"sqlite:///{tmp_path / 'mage.db'}"
    if twin_site:
        env["PYTHONPATH"] = str(MAGE_SITE)
    done = subprocess.run([sys.executable, "-c", SCHEDULER, str(tmp_path / "ran")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()  # the worker pool prints between the script's lines


def test_the_twins_mage_starts_a_block_run_its_worker_pool_left_behind(tmp_path: Path):
    out = schedule_one_block_run(tmp_path, twin_site=True)
    assert "pool left with the job queued" in out
    assert "result: ran" in out, out
    assert "[ProcessQueue] Job block_run_1 is queued with no worker pool. Start one." in out


def test_plain_mage_leaves_that_block_run_queued(tmp_path: Path):
    """Mage's own behaviour (why the patch exists): when this fails, a Mage release fixed it and
    the patch can go."""
    out = schedule_one_block_run(tmp_path, twin_site=False)
    assert "pool left with the job queued" in out
    assert "result: stuck" in out, out
