"""One-line user messages on stderr (warnings do not stop a run)."""

import sys


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
