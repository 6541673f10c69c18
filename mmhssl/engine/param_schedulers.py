"""Fitting a config's ``param_scheduler`` to a run shorter than the one it was written for."""
import logging

from mmengine.config import Config
from mmengine.logging import print_log


def leave_out_schedulers_after_training(cfg: Config) -> None:
    """Leave out the open-ended schedulers that would begin after the last epoch (or iteration).

    The shipped decays have no ``end``: the runner ends them with training, so a config changes
    only its length. A run shorter than the warm-up (a one-epoch smoke run) would then get a decay
    with ``begin >= end``, which mmengine refuses; without it the run stays in its warm-up, as it
    would with a fixed end.

    Args:
        cfg (Config): The merged config; its ``param_scheduler`` is updated in place.
    """
    schedulers = cfg.get('param_scheduler')
    if not schedulers:
        return
    train_cfg = cfg.get('train_cfg') or {}
    kept = []
    for sched in [schedulers] if isinstance(schedulers, dict) else schedulers:
        unit = 'max_epochs' if sched.get('by_epoch', True) else 'max_iters'
        length = train_cfg.get(unit)
        if 'end' not in sched and length is not None and sched.get('begin', 0) >= length:
            print_log(
                f"{sched['type']} begins at {sched['begin']}, after training ends "
                f'(train_cfg.{unit}={length}): left out of this run.',
                logger='current',
                level=logging.WARNING)
            continue
        kept.append(sched)
    cfg.param_scheduler = kept
