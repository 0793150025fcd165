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


def seed_list(text: str) -> list[int]:
    """'1,5,9' or '0-7' (or a mix: '0-3,9') -> seeds, each a non-negative integer."""
    seeds = []
    for part in filter(None, text.split(",")):
        a, sep, b = part.partition("-")
        if not (a.isdigit() and (not sep or b.isdigit())):
            raise argparse.ArgumentTypeError(f"{part!r} is not a seed or a range of seeds like 0-7")
        seeds += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    if not seeds or len(seeds) > 256:
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 to 256 seeds")
    return seeds


def float_list(text: str) -> list[float]:
    """'1,0.7,0.5' -> [1.0, 0.7, 0.5]."""
    try:
        values = [float(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number")
    return values
