"""The ``hello`` application's program: ``hello.py WHO TIMES [--shout]``.

It runs in the job's folder, so ``hello.txt`` becomes one of the job's outputs.
"""

import sys


def greeting(who: str, shout: bool = False) -> str:
    text = f"Hello, {who}!"
    return text.upper() if shout else text


def main(argv: list[str]) -> int:
    who, times = argv[0], int(argv[1])
    line = greeting(who, "--shout" in argv[2:])
    lines = [f"{i + 1}: {line}" for i in range(times)]
    print("\n".join(lines))
    with open("hello.txt", "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
