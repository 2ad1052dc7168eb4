"""Optimizers: :class:`ClippedRMSprop`, RMSprop with WGAN's weight clamp in the same step."""
from .clipped_rmsprop import BACKENDS, ClippedRMSprop, clamp_parameters

__all__ = ["BACKENDS", "ClippedRMSprop", "clamp_parameters"]
