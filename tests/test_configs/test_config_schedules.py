"""Every shipped schedule, built by mmengine's runner as a training run builds it, spans training:
its decays end with the last iteration, whatever length a config inherits or sets."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def _scheduled(path: str) -> bool:
    return bool(Config.fromfile(path).get('param_scheduler'))


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if _scheduled(p)], ids=lambda p: osp.relpath(p, ROOT))
def test_every_decay_ends_with_training(path, tmp_path):
    cfg = Config.fromfile(path)
    # Iteration-based schedules count the config's own epoch length; epoch-based ones any length.
    epoch_length = cfg.get('iters_per_epoch', 3)
    if cfg.train_cfg.get('type') == 'IterBasedTrainLoop':  # one pass of max_iters
        epoch_length = cfg.train_cfg.max_iters
    runner = Runner(
        model=torch.nn.Linear(2, 2),
        work_dir=str(tmp_path),
        experiment_name=osp.basename(path),
        train_dataloader=torch.utils.data.DataLoader(range(epoch_length)),
        train_cfg=cfg.train_cfg,
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.5)),
        param_scheduler=cfg.param_scheduler,
        default_scope=cfg.get('default_scope', 'mmpretrain'))
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.train_loop  # the runner gives open-ended schedulers the loop's length
    schedulers = runner.build_param_scheduler(cfg.param_scheduler)
    epochs, total = runner.max_epochs, runner.max_iters
    group = runner.optim_wrapper.optimizer.param_groups[0]
    lrs = []
    for _ in range(epochs):  # as the runner's hook steps them
        for _ in range(epoch_length):
            lrs.append(group['lr'])
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
        for s in schedulers:
            if s.by_epoch:
                s.step()

    # Cosine decays, or the poly decay of mmseg's recipes.
    decays = [s for s in schedulers if hasattr(s, 'T_max') or hasattr(s, 'power')]
    assert decays, 'expected a cosine or poly decay'
    for s in decays:
        length = epochs if s.by_epoch else total
        assert s.end == length, type(s).__name__
        if hasattr(s, 'T_max'):
            assert s.T_max == length - s.begin, type(s).__name__
    # The lr reaches its floor at the last iterations, not before.
    floor = [s for s in decays if s.param_name == 'lr'][-1].eta_min
    span = max(lrs) - floor
    assert lrs[-1] - floor < 0.02 * span
    assert lrs[int(0.9 * total)] - floor > 0.01 * span
