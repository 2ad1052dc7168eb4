"""gankit's shipped plugins, installed as the package ``gankit_plugins``.

Each module is one plugin, registered through the ``gankit`` entry-point group exactly as a
third-party plugin would be. Modules import torch only inside their hooks.
"""
