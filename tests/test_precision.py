"""--precision bf16: the networks' forward passes under bfloat16 autocast; parameters,
optimizer state and every loss in float32."""
import pytest
import torch

import gankit
from conftest import QUICK


def test_bf16_runs_the_layers_in_bfloat16_and_returns_float32_scores():
    trainer = gankit.train(["wgan_clip"], {**QUICK, "steps": 1, "precision": "bf16"})
    seen = []
    first_linear = next(m for m in trainer.critic.modules() if isinstance(m, torch.nn.Linear))
    handle = first_linear.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        scores = trainer.scored(None)(torch.zeros(4, 2))
        fake = trainer.fake(None)
    finally:
        handle.remove()
    assert seen == [torch.bfloat16]
    assert scores.dtype == torch.float32 and fake.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in trainer.critic.parameters())
    assert all(s.dtype == torch.float32 for state in trainer.opt_critic.state.values() for s in state.values()
               if torch.is_tensor(s) and s.is_floating_point())


@pytest.mark.parametrize("plugin", ["wgan_clip", "wgan_gp", "nsgan"])
def test_bf16_training_stays_close_to_float32(plugin):
    options = {**QUICK, "steps": 20, "log_every": 20}
    low = gankit.train([plugin], {**options, "precision": "bf16"})
    full = gankit.train([plugin], options)
    for a, b in zip(low.generator.parameters(), full.generator.parameters()):
        assert torch.isfinite(a).all()
        assert (a - b).abs().max() < 0.05  # bf16 keeps 8 bits of mantissa: close, not equal
    assert any(not torch.equal(a, b) for a, b in zip(low.generator.parameters(), full.generator.parameters()))
