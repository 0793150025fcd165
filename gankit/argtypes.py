"""Command-line value types: a bad value becomes argparse's one-line error (see cli.Parser)."""

import argparse


def int_at_least(minimum: int):
    """An argparse type: an integer ≥ minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} must be at least {minimum}" if minimum
                                             else f"{text} must not be negative")
        return value

    parse.__name__ = f"int>={minimum}"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)
