"""A user's module whose import fails (a dependency missing here; tests of issue 26)."""

import my_private_lib  # noqa: F401
