"""Writes pictures of samples from a fixed noise batch to ``samples/`` every K steps.

Images become a grid (``step_0000500.png``), 2-D points a scatter plot over the real data.
``samples/latest.png`` is always the newest picture.
"""
from gankit import Option, hookimpl

DEFAULT_IMAGES, DEFAULT_POINTS = 64, 2500


@hookimpl
def gankit_options():
    return [
        Option("sample_every", int, 500, "write a sample picture every this many steps (0: only at the end)", ge=0),
        Option("sample_count", int, 0, f"samples per picture (0: {DEFAULT_IMAGES} images or {DEFAULT_POINTS} points)", ge=0),
    ]


@hookimpl
def gankit_step_end(trainer, step):
    every = trainer.options["sample_every"]
    if every and step % every == 0:
        write_samples(trainer)


@hookimpl
def gankit_train_end(trainer):
    every = trainer.options["sample_every"]
    if not (every and trainer.step % every == 0):
        write_samples(trainer)


def write_samples(trainer):
    if trainer.run_dir is None:
        return
    from gankit.checkpoint import link_file
    from gankit.images import save_samples

    points = trainer.spec.kind == "points"
    n = trainer.options["sample_count"] or (DEFAULT_POINTS if points else DEFAULT_IMAGES)
    folder = trainer.run_dir / "samples"
    folder.mkdir(exist_ok=True)
    path = folder / f"step_{trainer.step:07d}.png"
    reference = trainer.dataset.x[:DEFAULT_POINTS] if points else None
    save_samples(trainer.sample(n).numpy(), path, reference=reference)
    link_file(path, folder / "latest.png", "sample picture")  # a kill leaves the old picture or the new one
