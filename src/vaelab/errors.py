"""The one exception type a user is meant to see: the CLI prints its message and exits with code 2; and the
warning the CLI prints as one line (``vaelab: warning: ...``) before going on; and the "did you mean" that an error
about an unknown name carries."""

import difflib
from collections.abc import Iterable


class VaelabError(Exception):
    """Bad input or a state the user can fix; the message says what was wrong and what to do."""


class VaelabWarning(UserWarning):
    """Something was left out or changed on the way, and the work went on: say what, in one line."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'X'?)" for the choice closest to ``name``, case aside, or "" when none is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in reversed(choices)}  # the first of names alike but for case
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""
