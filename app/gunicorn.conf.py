"""Gunicorn settings for the hardened model server.

Run with ``gunicorn -c app/gunicorn.conf.py`` (the WSGI target is set below).
Designed for a read-only root filesystem, a non-root user and an emptyDir on
/tmp: nothing here writes anywhere else (no pid file, no control socket, logs
go to stdout/stderr).  ``preload_app`` makes the master verify and load the
model once before forking; if that fails the master exits non-zero and no
worker ever serves.  A bad environment value stops the master here, before
gunicorn starts, with one JSON log line and status EXIT_CONFIG (no traceback).

The worker is ``app.worker.BufferedThreadWorker``: gthread's threads, but a
request reaches a thread only once it has fully arrived, within
REQUEST_READ_TIMEOUT; gunicorn's own refusals are JSON (see that module).
"""

# ruff: noqa: N999 -- gunicorn's conventional file name is not a module name.
from __future__ import annotations

import os
import sys

# app.config and the contract are stdlib-only, so importing them here loads no native libraries.
from app.config import EXIT_CONFIG, ConfigError, Settings
from app.logs import configure_app_logging
from secure_model_serving.serving_contract import WRITABLE_TMP_DIR

# Native thread pools (OpenMP/BLAS) must be sized before numpy/scikit-learn are
# imported; forked workers with busy OpenMP pools can deadlock.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    _settings = Settings.from_env()
except ConfigError as _error:
    configure_app_logging().critical("invalid configuration", extra={"event": "config_refused", "reason": str(_error)})
    # SystemExit is not an Exception: gunicorn's config loader lets it through untouched.
    sys.exit(EXIT_CONFIG)

wsgi_app = "app.server:create_production_app()"
bind = [f"0.0.0.0:{_settings.port}"]
preload_app = True

workers = _settings.workers
worker_class = "app.worker.BufferedThreadWorker"
threads = _settings.threads
timeout = _settings.timeout_seconds
# The drain after SIGTERM; the pod's terminationGracePeriodSeconds leaves room for it
# (secure_model_serving.settings checks the relation).
graceful_timeout = _settings.graceful_timeout_seconds
keepalive = 5
# Recycle workers now and then to bound memory growth; jitter avoids herds.
max_requests = 20_000
max_requests_jitter = 2_000

# Request-line and header limits well below gunicorn's defaults: the API needs
# short paths and few headers.
limit_request_line = 2048
limit_request_fields = 50
limit_request_field_size = 4096

worker_tmp_dir = WRITABLE_TMP_DIR
tmp_upload_dir = None
pidfile = None
control_socket_disable = True
daemon = False
reload = False
# Never honour X-Forwarded-* from arbitrary peers.
forwarded_allow_ips = "127.0.0.1,::1"
proc_name = "fraud-model-server"

accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
logger_class = "app.logs.GunicornJsonLogger"
capture_output = False
