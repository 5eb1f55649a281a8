"""The runner's one error type: its message is what the user reads before exit code 2 (bad input) or 1 (a run
that failed)."""


class RunnerError(Exception):
    """A problem the user can fix; `exit_code` 2 for bad input, 1 for a run that failed."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
