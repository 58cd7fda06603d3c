"""The one exception type a user is meant to see: the CLI prints its message and exits with code 2; and the
warning the CLI prints as one line (``vaelab: warning: ...``) before going on."""


class VaelabError(Exception):
    """Bad input or a state the user can fix; the message says what was wrong and what to do."""


class VaelabWarning(UserWarning):
    """Something was left out or changed on the way, and the work went on: say what, in one line."""
