"""Quiet logs in the batch's own local worker processes."""

from __future__ import annotations

import logging

from distributed import WorkerPlugin


class QuietWorkerLogs(WorkerPlugin):
    """Raise distributed's and tornado's loggers to ERROR in each local worker (and in any that restarts).

    ``LocalCluster(silence_logs=...)`` quiets the scheduler's side only: a worker whose heartbeat races the
    scheduler's shutdown still logs a WARNING with a full traceback to the terminal, where the batch reports every
    item's outcome itself.
    """

    name = "surgitwin-quiet-worker-logs"

    def setup(self, worker) -> None:
        """Called by distributed in each worker as it starts."""
        for name in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.ERROR)
