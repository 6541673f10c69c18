import math

import numpy as np
import pytest

from mmhssl.engine.hooks import HSSLScheduleHook
from mmhssl.engine.ssl_schedules import cosine, linear_warmup


def test_cosine_matches_dino_schedule():
    # DINO: final + 0.5 * (base - final) * (1 + cos(pi * i / len)), i over all iterations.
    total = 50
    ref = 1.0 + 0.5 * (0.996 - 1.0) * (1 + np.cos(np.pi * np.arange(total) / total))
    ours = [cosine(0.996, 1.0, i, total) for i in range(total)]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    assert cosine(0.996, 1.0, total, total) == 1.0


def test_teacher_temperature_warmup_matches_linspace():
    ref = np.concatenate([np.linspace(0.04, 0.07, 30), np.full(70, 0.07)])
    ours = [linear_warmup(0.04, 0.07, e, 30) for e in range(100)]
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_hook_values():
    hook = HSSLScheduleHook(
        momentum=(0.99, 1.0),
        teacher_temp=(0.04, 0.07),
        warmup_epochs=3,
        freeze_last_layer_epochs=2)
    v = hook.values(it=0, max_iters=10, epoch=0)
    assert v['momentum'] == pytest.approx(0.99) and v['teacher_temp'] == pytest.approx(0.04)
    assert v['freeze_last_layer'] is True
    v = hook.values(it=5, max_iters=10, epoch=2)
    assert v['momentum'] == pytest.approx(0.995)
    assert v['teacher_temp'] == pytest.approx(0.07) and v['freeze_last_layer'] is False
    assert math.isclose(hook.values(1, 10, 1)['teacher_patch_temp'], 0.055)


def test_default_hook_trains_a_head_without_prototypes(photos_dir, tmp_path):
    """MoCo v3's projector has no last layer to freeze; the hook's defaults must not need one."""
    from conftest import tiny_mocov3_cfg
    from mmengine.runner import Runner

    from mmhssl.engine import leave_out_schedulers_after_training
    cfg = tiny_mocov3_cfg(photos_dir)
    cfg.model.neck.in_channels = 256  # the narrow ResNet's last stage
    cfg.work_dir = str(tmp_path)
    cfg.optim_wrapper.type = 'SSLOptimWrapper'  # float32 on the CPU
    for key in ('dtype', 'loss_scale'):
        cfg.optim_wrapper.pop(key, None)
    cfg.custom_hooks = [dict(type='HSSLScheduleHook')]  # freeze_last_layer_epochs=1
    assert HSSLScheduleHook().freeze_last_layer_epochs == 1
    inner = cfg.train_dataloader.dataset
    while 'pipeline' not in inner:
        inner = inner.dataset
    inner.indices = 4  # two iterations of two images
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    leave_out_schedulers_after_training(cfg)  # as tools/train.py: the run ends in the warm-up
    cfg.default_hooks.checkpoint.interval = 100
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert runner.optim_wrapper.frozen_params == []
