"""SLURM settings: the executor's transport and template, and elastic cloud nodes.

Per-destination options (``partition``, ``account``, ``qos``, ``extra_options``, ``gpu_option``,
``gpu_type``, ``setup``, ``transport``, ``ssh_host``, ``ssh_user``, ``ssh_port``) live in the
destination's table of ``JOBS_DESTINATIONS_MAP``; see :mod:`gateway_kit.slurm.executor`.
"""

from __future__ import annotations

from ..settings import Setting, at_least, positive

SETTINGS: list[Setting] = [
    Setting("SLURM_BIN_DIR", str, "", "Folder of the SLURM commands (sbatch, squeue...); '' = PATH."),
    Setting(
        "SLURM_CONF",
        str,
        "",
        "slurm.conf for the SLURM commands ('' = SLURM's default or the SLURM_CONF environment variable).",
    ),
    Setting("SLURM_SSH_KEY", str, "", "Private key file for the ssh transport (login node).", secret=True),
    Setting(
        "SLURM_SSH_KNOWN_HOSTS",
        str,
        "",
        "known_hosts file with the login node's host key (the key is always checked).",
    ),
    Setting("SLURM_COMMAND_TIMEOUT", float, 30.0, "Seconds a SLURM command may take.", validate=positive()),
    Setting(
        "SLURM_SUBMIT_RETRIES",
        int,
        1,
        "Extra sbatch attempts while the controller is unreachable, before the queue retries later.",
        validate=at_least(0),
    ),
    Setting("SLURM_RETRY_DELAY", float, 2.0, "Seconds between those attempts.", validate=at_least(0)),
    Setting(
        "SLURM_UNREACHABLE_WAIT",
        float,
        20.0,
        "Seconds any SLURM command is run again (every SLURM_RETRY_DELAY) while the controller cannot "
        "be contacted (busy, restarting), before that counts as an outage.",
        validate=at_least(0),
    ),
    Setting(
        "SLURM_BATCH_TEMPLATE",
        str,
        "",
        "Jinja template of the batch script ('' = the kit's; "
        "see gateway_kit/slurm/commands.py DEFAULT_TEMPLATE).",
    ),
    Setting("SLURM_JOB_NAME_PREFIX", str, "gk", "Prefix of SLURM job names (gk-<destination>-<id>)."),
    Setting(
        "SLURM_POLL_CACHE_SECONDS",
        float,
        1.0,
        "One squeue answers every poll made within this many seconds (one command per poll cycle).",
        validate=at_least(0),
    ),
    # elastic nodes (gateway-kit slurm resume/suspend)
    Setting("SLURM_CLOUD_IMAGE", str, "", "Image of elastic SLURM nodes (name or id)."),
    Setting("SLURM_CLOUD_NETWORK", str, "", "Network of elastic nodes ('' = the cloud's default)."),
    Setting("SLURM_CLOUD_KEYPAIR", str, "", "Keypair name for elastic nodes ('' = none)."),
    Setting(
        "SLURM_CLOUD_FLAVORS",
        dict,
        {"default": "m3.small"},
        "Node feature -> flavor for elastic nodes, as a JSON object (in gateway.toml: "
        'SLURM_CLOUD_FLAVORS = \'{"gpu": "g3.small", "default": "m3.small"}\'; a TOML '
        "table would be read as settings SLURM_CLOUD_FLAVORS_GPU...); a node's first feature "
        "found here wins, else 'gpu' for a node with GPU gres, else 'default'.",
    ),
    Setting("SLURM_CLOUD_NODE_PREFIX", str, "", "Prefix of elastic node server names ('' = none)."),
    Setting(
        "SLURM_CLOUD_USER_DATA",
        str,
        "",
        "cloud-init template for elastic nodes ('' = "
        "deploy/slurm/cloud-init.yaml.j2 shipped as gateway_kit/slurm/templates/).",
    ),
    Setting(
        "SLURM_CLOUD_MUNGE_KEY",
        str,
        "/etc/munge/munge.key",
        "munge key delivered to elastic nodes through cloud-init.",
        secret=True,
    ),
    Setting(
        "SLURM_CLOUD_SLURM_CONF",
        str,
        "",
        "slurm.conf delivered to elastic nodes ('' = SLURM_CONF or /etc/slurm/slurm.conf).",
    ),
    Setting(
        "SLURM_CLOUD_SET_NODEADDR",
        bool,
        True,
        "Run 'scontrol update NodeName=.. NodeAddr=..' with each new server's address.",
    ),
    Setting(
        "SLURM_CLOUD_WAIT_SECONDS",
        float,
        600.0,
        "Longest wait for an elastic node's server to become ACTIVE.",
        validate=positive(),
    ),
]
