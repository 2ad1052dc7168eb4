"""Weight clipping (Arjovsky, Chintala & Bottou 2017, Algorithm 1 line 8).

Every critic parameter, weights and biases, is clamped to [-c, c] after each critic step (and
once when the critic is built). With ``--optimizer rmsprop`` the clamp runs inside the fused
RMSprop step (:class:`gankit.optim.ClippedRMSprop`), not a second time. Usable with any
objective; ``wgan_clip`` is WGAN's loss with this constraint.
"""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("clip_value", float, 0.01, "weight clipping bound c: parameters stay in [-c, c]", gt=0)]


@hookimpl
def gankit_constraints(options):
    from gankit.constraints import WeightClip

    return [WeightClip(options["clip_value"])]
