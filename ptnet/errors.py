"""Errors that the CLI turns into one-line messages and exit codes."""


class PtnetError(Exception):
    """A failure the user can act on. Printed as one line; exit code 1."""

    exit_code = 1


class UsageError(PtnetError):
    """Bad input: an unknown name, a malformed spec, a missing argument. Exit code 2."""

    exit_code = 2


class MissingTool(PtnetError):
    """A required program or package is not installed. Exit code 2 (fix the environment first)."""

    exit_code = 2
