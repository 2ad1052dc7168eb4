"""Setuptools shim. All metadata lives in pyproject.toml.

This file must never import torch: a plain ``pip install .`` runs it in an
environment where torch may not be installed yet.
"""
from setuptools import setup

setup()
