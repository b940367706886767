"""gunicorn settings for the gateway (``gunicorn -c python:gateway_kit.gunicorn_conf``).

Values come from the environment so that one file serves every deployment:
``GUNICORN_BIND`` (default 127.0.0.1:8000), ``GUNICORN_WORKERS`` (default 2 x cores + 1, at most 8),
``GUNICORN_TIMEOUT`` (default 60 s). Access logs are left to the kit's request log (with request
ids); gunicorn's own access log is off.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
errorlog = "-"
preload_app = False
