"""The built-in data sets: ``digits`` (default), ``ring8``, ``grid25`` and ``swissroll``.

All are offline: scikit-learn's bundled 8×8 digits, and 2-D mixtures drawn with a fixed seed.
"""
from gankit import hookimpl
from gankit.data import BUILTIN


@hookimpl
def gankit_datasets():
    return dict(BUILTIN)
