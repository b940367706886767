"""gunicorn settings for the gateway (``gunicorn -c python:gateway_kit.gunicorn_conf``).

Values come from the environment so that one file serves every deployment:
``GUNICORN_BIND`` (default 127.0.0.1:8000), ``GUNICORN_WORKERS`` (default 2 x cores + 1, at most 8),
``GUNICORN_TIMEOUT`` (default 60 s). Access logs are left to the kit's request log (with request
ids); gunicorn's own access log is off.

Request limits match the app's (``REQUEST_MAX_KB`` and the upload limits bound bodies; the app
answers 413 before reading one): gunicorn refuses request lines over 8 KB, more than 100 headers
and headers over 8 KB itself.

Slow clients: gthread's ``timeout`` only restarts a worker whose main loop hangs; it does not bound
a request, and a thread reading a request blocks for as long as its client keeps the connection
open without sending (four stalled headers took a 1-worker, 2-thread gateway down until they
disconnected). So every client socket gets a receive and send timeout of
``GUNICORN_CLIENT_TIMEOUT`` seconds (default 30; set on the listening sockets, which accepted
connections inherit on Linux): a connection that sends or takes nothing for that long mid-request
is closed (mid-body, the app answers 400: the body did not arrive). This bounds the gap between
two reads, as nginx's ``client_body_timeout`` does; an idle keep-alive connection is closed after
``keepalive`` seconds.
A front proxy (nginx, a load balancer) should carry the same body limit as the largest route
(``client_max_body_size``: the larger of JOBS_MAX_UPLOAD_MB and DATA_CHUNK_MB, plus 1 MB) and
client header/body timeouts no longer than this one.
"""

import logging
import multiprocessing
import os
import socket
import struct
from typing import Any

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

#: Seconds a client may leave a request (its headers or body) or its answer without progress.
CLIENT_TIMEOUT = int(os.environ.get("GUNICORN_CLIENT_TIMEOUT", "30"))


class _ClientTimeoutLog(logging.Filter):
    """Log a client timed out while sending its headers as one line, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BlockingIOError):
            record.msg, record.args, record.exc_info = (
                "Closed a connection that sent nothing for %ss (GUNICORN_CLIENT_TIMEOUT)",
                (CLIENT_TIMEOUT,),
                None,
            )
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def post_worker_init(worker: Any) -> None:
    """gunicorn hook: every client socket of this worker times out after ``CLIENT_TIMEOUT`` s."""
    if CLIENT_TIMEOUT <= 0:
        return
    value = struct.pack("ll", CLIENT_TIMEOUT, 0)
    for listener in worker.sockets:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    worker.log.error_log.addFilter(_ClientTimeoutLog())
