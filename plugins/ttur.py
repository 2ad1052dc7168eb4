"""TTUR: the two time-scale update rule (Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter
2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium").

The critic and the generator learn with separate step sizes, the critic faster:
``θ_D ← θ_D − a(n)·∇L_D``, ``θ_G ← θ_G − b(n)·∇L_G`` with ``b(n) = o(a(n))``, under which
Heusel et al. prove convergence to a local Nash equilibrium (Theorem 1), also for Adam, which
their experiments use with the two learning rates ("Adam TTUR"). The fast critic lets one
critic step per generator step do the work of several (``--n-critic`` is left as it is; set
it to 1 for that).

This plugin only recommends option values (it has no code in the loop): ``optimizer = adam``,
``lr_critic = 4e-4`` and ``lr_generator = 1e-4`` — the rates of REFERENCES.md §2 ("D 4e-4,
G 1e-4"), as used with TTUR by SAGAN (Zhang, Goodfellow, Metaxas & Odena 2019, §5).
Adam's betas stay the ``optimizers`` plugin's (``--beta1``, ``--beta2``).

Recommended defaults apply in plugin selection order and a later ``--plugin`` wins, so put
``ttur`` after the objective: ``--plugin wgan_gp --plugin ttur`` trains with TTUR's rates,
``--plugin ttur --plugin wgan_gp`` with WGAN-GP's. A config file or a command-line flag
(``--lr-critic``, ``--lr-generator``, ``--optimizer``) overrides both.

Example::

    gankit train --plugin wgan_gp --plugin ttur
"""
from gankit import hookimpl

#: Learning rates of the critic (the fast time scale) and the generator (REFERENCES.md §2).
LR_CRITIC, LR_GENERATOR = 4e-4, 1e-4


@hookimpl
def gankit_option_defaults():
    return {"optimizer": "adam", "lr_critic": LR_CRITIC, "lr_generator": LR_GENERATOR}
