"""A study's exit statuses (docs/faults.md lists which fault ends in which), and the error that
ends a study before anything is launched."""

from __future__ import annotations

EXIT_OK = 0  # every trial finished
EXIT_SOME_FAILED = 1  # the study completed, some trials failed (their reasons are in MLflow)
EXIT_USAGE = 2  # bad flags or settings: nothing was launched (argparse's own code)
EXIT_ALL_FAILED = 3  # every trial failed
EXIT_INTERRUPTED = 130  # Ctrl-C: unfinished trials KILLED, resumable with --resume
EXIT_TERMINATED = 143  # SIGTERM (a scheduler, Kubernetes, systemd, `timeout`): as Ctrl-C


class UsageError(SystemExit):
    """A study that cannot run as asked (a flag, the data, the store): nothing was launched.
    Exits with :data:`EXIT_USAGE`; ``str()`` is the one-line reason, which
    :func:`a3m.study.runner.main` prints."""

    def __init__(self, message: str):
        super().__init__(EXIT_USAGE)
        self.message = message

    def __str__(self) -> str:
        return self.message
