"""Saves ``checkpoint.pt`` (atomically) every K steps, at the end, and when stopped by a signal."""
from gankit import Option, hookimpl


@hookimpl
def gankit_options():
    return [Option("checkpoint_every", int, 1000, "save a checkpoint every this many steps (0: only at the end)", ge=0)]


@hookimpl
def gankit_step_end(trainer, step):
    every = trainer.options["checkpoint_every"]
    if trainer.run_dir is not None and every and step % every == 0:
        trainer.save_checkpoint()


@hookimpl
def gankit_train_end(trainer):
    every = trainer.options["checkpoint_every"]
    if trainer.run_dir is not None and not (every and trainer.step % every == 0):
        trainer.save_checkpoint()
