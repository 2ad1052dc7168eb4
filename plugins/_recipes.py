"""Pieces shared by the objective plugins (not a plugin itself: no entry point, no hooks)."""
from gankit import Option

#: DCGAN's optimizer (Radford et al. 2016 §4): Adam, lr 2e-4, β1 0.5. The sigmoid-family
#: objectives' papers train with it.
DCGAN_ADAM = {"optimizer": "adam", "lr_critic": 2e-4, "lr_generator": 2e-4, "beta1": 0.5, "beta2": 0.999}

#: One-sided label smoothing (Salimans et al. 2016 §3.4), for the objectives with a target.
REAL_LABEL = Option("real_label", float, 1.0, "target of real samples; < 1 is one-sided label smoothing, e.g. 0.9",
                    gt=0, le=1)

#: The gradient-normalisation recipes' training setup (Wu et al. 2021's code): Adam with
#: β = (0, 0.9), a critic twice as fast, 5 critic steps, no normalisation layers in a dcgan critic.
GRADIENT_NORMALIZED = {
    "n_critic": 5, "batch_size": 64, "optimizer": "adam", "lr_critic": 4e-4, "lr_generator": 2e-4,
    "beta1": 0.0, "beta2": 0.9, "critic_norm": "none",
}
