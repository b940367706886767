"""The feature modules the app factory initialises, in order.

Each entry is an importable module with ``init_app(app)`` that registers its blueprints, CLI
commands, worker tasks, navigation entries and extensions. Feature packages add themselves here.
"""

FEATURES: list[str] = [
    "gateway_kit.web",
    "gateway_kit.api",
    "gateway_kit.observability",
    "gateway_kit.identity.feature",
    "gateway_kit.jobs.feature",
    "gateway_kit.burst.feature",
    "gateway_kit.certs.feature",
    "gateway_kit.data.feature",
    "gateway_kit.hosting.feature",
    "gateway_kit.sessions.feature",
]
