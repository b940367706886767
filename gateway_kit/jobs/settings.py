"""Job settings: application files, destinations and routing, the queue, the local executor,
accounting and notifications."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..settings import Setting, at_least, positive


def _destinations(value: Any) -> str | None:
    for name, dest in value.items():
        if not isinstance(dest, dict) or not isinstance(dest.get("executor", "local"), str):
            return (
                f"a table of destinations, each a table with an 'executor' name (destination {name!r} is not)"
            )
    return None


DEFAULT_DESTINATIONS: dict[str, Any] = {
    # Rates as on Jetstream2: 1 SU per vCPU-hour on CPU, 2 on large memory, 4 on GPU.
    "local": {"executor": "local", "su_per_cpu_hour": 1.0, "su_per_gpu_hour": 0.0},
}

SETTINGS: list[Setting] = [
    Setting(
        "JOBS_DIR",
        str,
        lambda s: str(Path(s["INSTANCE_PATH"]) / "jobs"),
        "Folder holding each job's working directory and staged uploads.",
    ),
    Setting(
        "JOBS_APPLICATION_FILES",
        list,
        [],
        "TOML files (or folders of *.toml) with application definitions to load at start-up.",
    ),
    Setting(
        "JOBS_DESTINATIONS_MAP",
        dict,
        DEFAULT_DESTINATIONS,
        "Destinations by name: a table with 'executor' (short name, e.g. local, slurm), SU rates "
        "'su_per_cpu_hour' and 'su_per_gpu_hour', and executor options.",
        validate=_destinations,
    ),
    Setting(
        "JOBS_ROUTING_RULES",
        dict,
        {},
        "Routing: application id -> destination name ('*' for the default). Without a rule a "
        "job goes to the first destination its application allows.",
    ),
    Setting(
        "JOBS_POLL_INTERVAL", float, 2.0, "Seconds between worker passes over the queue.", validate=positive()
    ),
    Setting(
        "JOBS_LEASE_SECONDS",
        float,
        30.0,
        "A job held by a worker that has not heartbeated for this long is recovered by another worker.",
        validate=positive(),
    ),
    Setting("JOBS_CLAIM_BATCH", int, 4, "Most new jobs one worker claims per pass.", validate=positive()),
    Setting(
        "JOBS_LOCAL_MAX_CONCURRENT",
        int,
        4,
        "Most jobs the local executor runs at once on this host.",
        validate=positive(),
    ),
    Setting(
        "JOBS_LOCAL_CPUS",
        int,
        0,
        "CPU slots of the local executor (0: the host's CPU count).",
        validate=at_least(0),
    ),
    Setting(
        "JOBS_LOCAL_GPUS",
        list,
        ["auto"],
        "GPU ids the local executor may assign (['auto']: detect with 'nvidia-smi -L'; []: none).",
    ),
    Setting(
        "JOBS_LOCAL_KILL_GRACE",
        float,
        5.0,
        "Seconds between SIGTERM and SIGKILL when a local job is canceled or times out.",
        validate=at_least(0),
    ),
    Setting(
        "JOBS_MAX_UPLOAD_MB",
        float,
        100.0,
        "Largest upload accepted for any file input (an application may set less).",
        validate=positive(),
    ),
    Setting(
        "JOBS_COMMUNITY_PROJECT",
        str,
        "",
        "Project whose allocation every signed-in user may charge (a community allocation); "
        "empty: users charge the projects they belong to.",
    ),
    Setting(
        "JOBS_WEBHOOK_SECRET",
        str,
        "",
        "Key that signs job webhooks (HMAC-SHA256); empty: derived from SECRET_KEY.",
        secret=True,
    ),
    Setting("JOBS_WEBHOOK_TIMEOUT", float, 5.0, "Seconds a webhook delivery may take.", validate=positive()),
    Setting(
        "JOBS_WEBHOOK_ALLOW_PRIVATE",
        bool,
        False,
        "Let job webhooks reach loopback, private, link-local (cloud metadata), multicast and "
        "reserved addresses. Off: such URLs are refused at submission and again at delivery "
        "(server-side request forgery). Only for development and tests with a local receiver.",
    ),
    Setting("JOBS_SMTP_HOST", str, "", "SMTP server for job e-mail (empty: no e-mail)."),
    Setting("JOBS_SMTP_PORT", int, 25, "SMTP port.", validate=positive()),
    Setting("JOBS_SMTP_USERNAME", str, "", "SMTP user (empty: no login)."),
    Setting("JOBS_SMTP_PASSWORD", str, "", "SMTP password.", secret=True),
    Setting("JOBS_SMTP_STARTTLS", bool, False, "Use STARTTLS with the SMTP server."),
    Setting("JOBS_MAIL_FROM", str, "gateway@localhost", "Sender address of job e-mail."),
    Setting(
        "JOBS_DEMO_MAILBOX",
        str,
        "",
        "A folder of .eml files shown at /demo/mail (the demo's local mail outbox, set by "
        "`gateway-kit demo`); empty: no such page.",
    ),
]


def host_cpus() -> int:
    return os.cpu_count() or 1
