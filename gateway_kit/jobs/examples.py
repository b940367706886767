"""Example applications for the demo (``PLUGINS = ["gateway_kit.jobs.examples"]``).

Each runs a few lines of Python with the interpreter the gateway runs on, so they work anywhere
the kit does. They show every kind of input: text, a file upload, integers with bounds, a float,
a choice, a boolean flag and a hosted dataset (``dataset-stats``).
"""

from __future__ import annotations

import sys

from flask import Flask

from .apps import literal, register_application

ECHO = "import sys; print(sys.argv[1]); print(sys.argv[1], file=open('echo.txt', 'w'))"

WORDCOUNT = """
import collections, json, re, sys
text = open(sys.argv[1], encoding='utf-8', errors='replace').read()
words = re.findall(r"[\\w']+", text if '--case' in sys.argv[3:] else text.lower())
counts = collections.Counter(words)
top = int(sys.argv[2])
print(f"{len(words)} words, {len(counts)} distinct")
for word, n in counts.most_common(top):
    print(f"{n:8d}  {word}")
json.dump({"words": len(words), "distinct": len(counts), "top": counts.most_common(top)},
          open('counts.json', 'w'), indent=2)
"""

SLEEP = """
import sys, time
n = int(sys.argv[1])
for i in range(n):
    print(f"second {i + 1} of {n}", flush=True)
    time.sleep(1)
print("done")
"""

PI = """
import json, random, sys
samples, seed, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)
inside = 0
step = max(samples // 10, 1)
for i in range(1, samples + 1):
    if method == 'monte-carlo':
        x, y = rng.random(), rng.random()
    else:  # a regular grid
        k = int(samples ** 0.5) or 1
        x, y = ((i % k) + 0.5) / k, ((i // k % k) + 0.5) / k
    inside += x * x + y * y <= 1.0
    if i % step == 0:
        print(f"{i:>12d} samples  pi ~ {4 * inside / i:.6f}", flush=True)
estimate = 4 * inside / samples
print(f"pi ~ {estimate}")
json.dump({"samples": samples, "seed": seed, "method": method, "pi": estimate},
          open('result.json', 'w'), indent=2)
"""

DATASET_STATS = """
import hashlib, json, os, sys
root = sys.argv[1]
rows = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        data = open(path, 'rb').read()
        rows.append({"path": os.path.relpath(path, root).replace(os.sep, '/'),
                     "lines": data.count(b'\\n'), "words": len(data.split()),
                     "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
total = {k: sum(r[k] for r in rows) for k in ("lines", "words", "bytes")}
with open('stats.tsv', 'w', encoding='utf-8') as out:
    out.write("path\\tlines\\twords\\tbytes\\tsha256\\n")
    for r in rows:
        out.write(f"{r['path']}\\t{r['lines']}\\t{r['words']}\\t{r['bytes']}\\t{r['sha256']}\\n")
json.dump({"files": rows, "total": {"files": len(rows), **total}}, open('stats.json', 'w'),
          indent=2)
for r in rows:
    print(f"{r['lines']:>8d} {r['words']:>8d} {r['bytes']:>10d}  {r['sha256'][:16]}  {r['path']}")
print(f"{total['lines']:>8d} {total['words']:>8d} {total['bytes']:>10d}  {len(rows)} files")
"""


def init_app(app: Flask) -> None:
    py = sys.executable
    register_application(
        app,
        {
            "id": "echo",
            "title": "Echo",
            "version": "1.0",
            "description": "Prints a message (a first job to try: whatever you type arrives as one "
            "argument, never through a shell).",
            "inputs": [
                {
                    "name": "message",
                    "type": "string",
                    "min_length": 1,
                    "max_length": 500,
                    "default": "Hello, gateway!",
                    "help": "Any text.",
                }
            ],
            "resources": {"cpus": 1, "memory_mb": 256, "walltime": 60},
            "command": [py, "-c", literal(ECHO), "{message}"],
            "outputs": ["echo.txt"],
        },
    )
    register_application(
        app,
        {
            "id": "wordcount",
            "title": "Word count",
            "version": "1.0",
            "description": "Counts the words of an uploaded text file.",
            "inputs": [
                {"name": "text", "type": "file", "max_size_mb": 10, "label": "Text file"},
                {"name": "case_sensitive", "type": "boolean", "required": False},
                {
                    "name": "top",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "default": 10,
                    "label": "Most frequent words to list",
                },
            ],
            "resources": {"cpus": 1, "memory_mb": 512, "walltime": 120},
            "command": [
                py,
                "-c",
                literal(WORDCOUNT),
                "{text}",
                "{top}",
                {"if": "case_sensitive", "args": ["--case"]},
            ],
            "outputs": ["counts.json"],
        },
    )
    register_application(
        app,
        {
            "id": "sleep",
            "title": "Sleep",
            "version": "1.0",
            "description": "Sleeps for N seconds, printing a line each second (try cancel and the walltime).",
            "inputs": [{"name": "seconds", "type": "integer", "minimum": 0, "maximum": 3600, "default": 10}],
            "resources": {"cpus": 1, "memory_mb": 128, "walltime": 120, "max_walltime": 3600},
            "command": [py, "-c", literal(SLEEP), "{seconds}"],
        },
    )
    register_application(
        app,
        {
            "id": "pi",
            "title": "Estimate pi",
            "version": "1.0",
            "description": "A small numeric simulation: estimates pi by sampling the unit square.",
            "inputs": [
                {
                    "name": "samples",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 50_000_000,
                    "default": 1_000_000,
                },
                {"name": "seed", "type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 42},
                {
                    "name": "method",
                    "type": "choice",
                    "choices": ["monte-carlo", "grid"],
                    "default": "monte-carlo",
                },
            ],
            "resources": {"cpus": 1, "memory_mb": 512, "walltime": 600, "max_cpus": 4},
            "command": [py, "-c", literal(PI), "{samples}", "{seed}", "{method}"],
            "outputs": ["result.json"],
        },
    )
    register_application(
        app,
        {
            "id": "dataset-stats",
            "title": "Dataset statistics",
            "version": "1.0",
            "description": "Counts the lines, words and bytes of every file in a dataset and computes "
            "its SHA-256 (the job reads the dataset in place, read-only).",
            "inputs": [
                {
                    "name": "dataset",
                    "type": "dataset",
                    "label": "Dataset",
                    "help": "A dataset you may read: type to search by name, or paste its id (ds-...).",
                }
            ],
            "resources": {"cpus": 1, "memory_mb": 512, "walltime": 600},
            "command": [py, "-c", literal(DATASET_STATS), "{dataset}"],
            "outputs": ["stats.json", "stats.tsv"],
        },
    )
