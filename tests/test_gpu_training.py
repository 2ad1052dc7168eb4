"""Training on a GPU: no host synchronisation inside the step loop, bf16, and the run's result.
Skipped without CUDA (run on a GPU machine: python -m pytest -q tests/test_gpu_training.py)."""
import pytest
import torch

import gankit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")

GPU = {"data": "ring8", "log_every": 1000, "progress": "off", "device": "cuda"}


@pytest.mark.parametrize("plugin, precision", [("wgan_clip", "fp32"), ("wgan_clip", "bf16"), ("wgan_gp", "fp32")])
def test_the_step_loop_never_waits_for_the_gpu(plugin, precision):
    trainer = gankit.train([plugin], {**GPU, "steps": 3, "precision": precision})  # warm-up: builds, first allocations
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call in the steps raises
    try:
        for _ in range(20):  # 20 × 5 × 64 samples: no new epoch of ring8's 50,000 points
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(p).all() for p in trainer.critic.parameters())


def test_a_gpu_run_keeps_its_data_on_the_gpu_and_uses_the_fused_step():
    trainer = gankit.train(["wgan_clip"], {**GPU, "steps": 2})
    assert trainer.batches.x.is_cuda
    assert trainer.opt_critic.backend == "cuda"
