"""Data: datasets (catalog, resumable uploads, downloads, job inputs, DNS publishing) and the
gateway database's hosting and backups (``pg_dump`` archives, volume snapshots).

Modules: :mod:`.settings`, :mod:`.models`, :mod:`.storage` (paths on the datasets root),
:mod:`.catalog` (who may see and change what), :mod:`.uploads` (the chunk protocol),
:mod:`.jobinputs` (datasets as job inputs), :mod:`.publishing` (Designate CNAMEs),
:mod:`.backups` (database archives and volume snapshots), :mod:`.api`, :mod:`.views`, :mod:`.cli`
and :mod:`.feature` (``init_app``).
"""

from ..features import Command, Feature

FEATURE = Feature.standard(
    "data",
    __name__,
    commands=[
        Command(
            "datasets",
            ".cli:datasets",
            "Datasets: upload and download files, list them, publish one under its own DNS name.",
        ),
        Command(
            "db backup",
            ".cli:db_backup",
            "Archive the database now (pg_dump, or SQLite's backup API), then apply retention.",
        ),
        Command("db backups", ".cli:db_backups", "List database archives, newest first, with their age."),
        Command(
            "db restore",
            ".cli:db_restore",
            "Restore archive NAME into the database at --target-url (its objects are replaced).",
        ),
    ],
    requires=("identity", "jobs"),
    order=50,
)
