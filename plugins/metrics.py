"""The built-in evaluation metrics, registered through the ``gankit_metrics`` hook.

``modes`` (2-D mixtures), ``w1`` and ``sliced_w1`` (any data), ``fid``, ``kid``, ``is``,
``precision_recall``, ``density_coverage`` and ``classes`` (digits, or a ``--features``
module) and ``parzen`` (any data): see :mod:`gankit.metrics.builtin`. ``gankit eval`` and the
``evaluation`` plugin compute them; another plugin adds its own by answering the same hook.
"""
from gankit import hookimpl


@hookimpl
def gankit_metrics():
    from gankit.metrics.builtin import BUILTIN

    return list(BUILTIN)
