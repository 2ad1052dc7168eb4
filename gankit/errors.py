"""The one exception type users see: a problem they can fix, said in one line."""


class GankitError(Exception):
    """A user-facing error. The CLI prints ``gankit: error: <message>`` and exits with 2.

    The message is a single line naming what is wrong and, where possible, what is allowed.
    """


class GankitWarning(UserWarning):
    """Something gankit can go on with but the user should know, said in one line."""
