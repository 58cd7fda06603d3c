"""The one exception type a user is meant to see: the CLI prints its message and exits with code 2."""


class VaelabError(Exception):
    """Bad input or a state the user can fix; the message says what was wrong and what to do."""
