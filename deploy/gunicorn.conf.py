# gunicorn configuration for the Procfile: the settings live in the package so that
# `pip install gateway-kit` users get them too (gunicorn -c python:gateway_kit.gunicorn_conf).
from gateway_kit.gunicorn_conf import *  # noqa: F403
