"""Process groups for launchers on machines without a GPU."""
import torch
import torch.distributed as torch_dist


def init_cpu_process_group(launcher: str) -> None:
    """Join the torchrun process group with gloo when there is no GPU.

    mmengine 0.10.7 pins a CUDA device when it sets up a ``pytorch`` launcher's process group, which
    fails without CUDA; the runner leaves an existing process group as it is.

    Args:
        launcher (str): The ``--launcher`` choice.
    """
    if launcher == 'pytorch' and not torch.cuda.is_available() and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
