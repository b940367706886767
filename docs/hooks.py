"""MkDocs hook: add the generated pages (see gen_reference.py) to the build, from the code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_reference import pages


def on_files(files: Files, config: Any) -> Files:
    for rel, text in pages().items():
        files.append(File.generated(config, rel, content=text))
    return files
