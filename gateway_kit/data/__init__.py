"""Data: datasets (catalog, resumable uploads, downloads, job inputs, DNS publishing) and the
gateway database's hosting and backups (``pg_dump`` archives, volume snapshots).

Modules: :mod:`.settings`, :mod:`.models`, :mod:`.storage` (paths on the datasets root),
:mod:`.catalog` (who may see and change what), :mod:`.uploads` (the chunk protocol),
:mod:`.jobinputs` (datasets as job inputs), :mod:`.publishing` (Designate CNAMEs),
:mod:`.backups` (database archives and volume snapshots), :mod:`.api`, :mod:`.views`, :mod:`.cli`
and :mod:`.feature` (``init_app``).
"""
