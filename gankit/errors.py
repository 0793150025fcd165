"""User-facing errors.

Anything the user can fix (a bad flag, a missing folder, a corrupt file) raises
`GankitError`; the CLI prints its one-line message and exits with code 2 instead
of showing a traceback.
"""


class GankitError(Exception):
    """A problem with the user's input, reported as one line, exit code 2."""

    exit_code = 2


class TrainingDiverged(GankitError):
    """Training produced NaN or inf; the last good checkpoint is kept."""

    exit_code = 3
