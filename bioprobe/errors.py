"""The one exception type for mistakes a user can make; the CLI prints its message and exits non-zero."""


class BioprobeError(Exception):
    """A user-facing error: its message is one clear sentence, shown without a traceback."""
