"""SLURM: the ``slurm`` executor (pure command builders and parsers, transports) and elastic cloud nodes."""

from ..features import Command, Feature

FEATURE = Feature(
    "slurm",
    __name__,
    settings=".settings",
    commands=[Command("slurm", ".cli:slurm", "SLURM: elastic cloud nodes (ResumeProgram / SuspendProgram).")],
    requires=("jobs",),
)
