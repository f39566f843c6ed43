"""Gunicorn settings for the hardened model server.

Run with ``gunicorn -c app/gunicorn.conf.py`` (the WSGI target is set below).
Designed for a read-only root filesystem, a non-root user and an emptyDir on
/tmp: nothing here writes anywhere else (no pid file, no control socket, logs
go to stdout/stderr).  ``preload_app`` makes the master verify and load the
model once before forking; if that fails the master exits non-zero and no
worker ever serves.
"""

# ruff: noqa: N999 -- gunicorn's conventional file name is not a module name.
from __future__ import annotations

import os

# app.config is stdlib-only, so importing it here loads no native libraries.
from app.config import WRITABLE_TMP_DIR, Settings

# Native thread pools (OpenMP/BLAS) must be sized before numpy/scikit-learn are
# imported; forked workers with busy OpenMP pools can deadlock.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

_settings = Settings.from_env()

wsgi_app = "app.server:create_production_app()"
bind = [f"0.0.0.0:{_settings.port}"]
preload_app = True

workers = _settings.workers
worker_class = "gthread"
threads = _settings.threads
timeout = _settings.timeout_seconds
graceful_timeout = 20
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
