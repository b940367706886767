"""gunicorn settings for the gateway (``gunicorn -c python:gateway_kit.gunicorn_conf``).

Values come from the environment so that one file serves every deployment:
``GUNICORN_BIND`` (default 127.0.0.1:8000), ``GUNICORN_WORKERS`` (default 2 x cores + 1, at most 8),
``GUNICORN_TIMEOUT`` (default 60 s). Access logs are left to the kit's request log (with request
ids); gunicorn's own access log is off.

Request limits match the app's (``REQUEST_MAX_KB`` and the upload limits bound bodies; the app
answers 413 before reading one): gunicorn refuses request lines over 8 KB, more than 100 headers
and headers over 8 KB itself. Slow clients: a sync/gthread worker that spends ``timeout`` seconds
on one request is restarted, and an idle keep-alive connection is closed after ``keepalive``
seconds. A front proxy (nginx, a load balancer) should carry the same body limit as the largest
route (``client_max_body_size``: the larger of JOBS_MAX_UPLOAD_MB and DATA_CHUNK_MB, plus 1 MB)
and its own client header/body timeouts.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
errorlog = "-"
preload_app = False
