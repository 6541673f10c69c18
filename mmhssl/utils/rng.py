"""Run code without touching the global random streams."""
import contextlib
import random

import numpy as np
import torch


@contextlib.contextmanager
def preserve_rng_state():
    """Restore the Python, NumPy, torch CPU and (initialised) CUDA random states on exit.

    Side computations during training (evaluation, logging) then cannot shift the augmentations,
    masks or dropout of the training run.
    """
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
