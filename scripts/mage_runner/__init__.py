"""The one entrypoint of the hosted and local Mage: ``python -m mage_runner``.

``run``   -- a pipeline as a Mage pipeline run (trigger or backfill, block runs, logs), used by the
             Cloud Run job, ``make demo`` and ``make backfill``;
``backfill`` -- prepare the instance, then run this backfill task's slices (``run`` each), used by
             the backfill Cloud Run job and ``make backfill``;
``start`` -- prepare the instance (Mage's secrets key, the dev project volume) and exec
             ``mage start``; used by the Cloud Run service. With the scheduler
             (``server_and_scheduler``) Mage runs the web server only and ``scheduler`` runs
             beside it;
``scheduler`` -- started by ``start``: Mage's scheduler, only while holding its advisory lock
             in the metadata database (mage_runner.scheduler_lock).

Runs in the image (Debian's Python 3.11, uv.lock's `mage` group) and in the twin's .venv (the
same Python minor and lock).
"""
