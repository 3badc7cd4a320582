"""gunicorn settings, read automatically when gunicorn starts from the repository root
(`gunicorn -w 4 wsgi:app`). The worker count is gunicorn's own (``-w`` or
``WEB_CONCURRENCY``); this file only adds a start-up check."""
from __future__ import annotations

import os


def on_starting(server) -> None:
    """Refuse to start production with several workers and per-process (memory://)
    rate-limit storage; tell each worker's ``create_app`` the real worker count."""
    workers = int(server.cfg.workers)
    # Before marketplace.config is imported: its settings are read once, at import, and
    # the workers forked from this process inherit them.
    os.environ["WEB_CONCURRENCY"] = str(workers)
    from marketplace.config import CONFIGS, shared_storage_problem

    config = CONFIGS.get(os.environ.get("MARKETPLACE_ENV") or "production")
    if config is not None:
        problem = shared_storage_problem(config.ENV_NAME, config.RATELIMIT_STORAGE_URI, workers)
        if problem:
            raise RuntimeError(problem)  # gunicorn prints "Error: ..." and exits 1
