"""f-GAN (Nowozin, Cseke & Tomioka 2016, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization", eq. 6 and Table 2).

The critic's raw output V passes through the output activation g_f of the chosen divergence,
T = g_f(V), and the critic maximises ``mean T(x) - mean f*(T(G(z)))``, a lower bound on
D_f(P‖Q); the generator uses the paper's recommended update (§3.2), maximising
``mean g_f(V(G(z)))``. ``--divergence``: kl, reverse_kl, js, pearson, squared_hellinger (see
:class:`gankit.losses.FDivergenceLoss` for g_f and f*). No Lipschitz constraint.

Default divergence ``js``: Jensen-Shannon is the divergence of the original GAN (the paper's
"GAN" row of Table 2 is 2·JSD - log 4 with the same output activation up to a constant), the
baseline the paper's experiments compare the other divergences against.

Without a constraint, ``reverse_kl`` and ``squared_hellinger`` blow up on low-dimensional
data with (nearly) disjoint supports such as ring8: the critic drives the fakes' raw scores v
down without bound (the reverse KL is infinite there; the squared Hellinger conjugate
saturates), and the generator's loss grows like exp(-v). With these defaults on ring8,
reverse_kl's generator loss passed 1e21 by step 750 and turned NaN by step 775; add a
constraint (e.g. ``--plugin sn``: both stayed near 1 for 1,000 steps) for these two.

Training defaults: Adam with lr 2e-4 and β1 = 0.5 (DCGAN's, which the paper's image
experiments build on), one critic step per generator step (the paper's single-step
Algorithm 1 updates both once per iteration). Example:

    gankit train --plugin fgan --divergence reverse_kl --plugin sn --data ring8
"""
from gankit import Option, hookimpl
from gankit_plugins._recipes import DCGAN_ADAM


@hookimpl
def gankit_options():
    from gankit.losses import F_DIVERGENCES

    return [Option("divergence", str, "js", "f-divergence of f-GAN", choices=tuple(F_DIVERGENCES))]


@hookimpl
def gankit_option_defaults():
    return {"n_critic": 1, **DCGAN_ADAM}


@hookimpl
def gankit_loss(options):
    from gankit.losses import FDivergenceLoss

    return FDivergenceLoss(options["divergence"])
