"""Non-finite steps, wrong checkpoints and bad configs on the real runner and demo config."""
import copy

import pytest
import torch
from conftest import demo_cfg, shrink, tiny_model_cfg
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from mmhssl.engine.hooks import HSSLScheduleHook
from mmhssl.engine.optimizers import NonFiniteStepError
from mmhssl.utils import use_safe_checkpoint_loader


class _PoisonLoss(Hook):
    """Makes the loss NaN at the given iterations and records the state around them."""
    priority = 'LOWEST'

    def __init__(self, iters):
        self.iters = set(iters)
        self.snapshots = {}

    def before_run(self, runner):
        self.flag = False

        def poison(module, args, out):
            if self.flag:
                return {k: v * float('nan') for k, v in out.items()}

        runner.model.loss_module.register_forward_hook(poison)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.flag = runner.iter in self.iters
        self.snapshots[('before', runner.iter)] = copy.deepcopy(runner.model.state_dict())

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.snapshots[('after', runner.iter)] = copy.deepcopy(runner.model.state_dict())


def _runner(tmp_path, photos_dir, **kw):
    cfg = shrink(demo_cfg(tmp_path, photos_dir, train_cfg=dict(max_epochs=1), **kw))
    return Runner.from_cfg(cfg)


@pytest.mark.slow
def test_a_nonfinite_step_leaves_no_trace(tmp_path, photos_dir):
    runner = _runner(tmp_path, photos_dir)
    probe = _PoisonLoss(iters=[3])
    runner.register_hook(probe)
    runner.train()
    before, after = probe.snapshots[('before', 3)], probe.snapshots[('after', 3)]
    for k in before:  # student, teacher and centers: the skipped step leaves no trace
        assert torch.equal(before[k], after[k]), k
    # A step taken moves the teacher right after it, with the momentum of its own iteration.
    hook = next(h for h in runner.hooks if isinstance(h, HSSLScheduleHook))
    m = hook.values(4, runner.max_iters, 0)['momentum']
    b4, a4 = probe.snapshots[('before', 4)], probe.snapshots[('after', 4)]
    for k in a4:
        if k.startswith('teacher.') and a4[k].is_floating_point():
            expected = m * b4[k] + (1 - m) * a4[k[len('teacher.'):]]  # the stepped student
            torch.testing.assert_close(a4[k], expected, rtol=1e-5, atol=1e-6, msg=k)
    s5, s4 = probe.snapshots[('after', 5)], probe.snapshots[('after', 4)]
    assert not torch.equal(s5['backbone.patch_embed.projection.weight'],
                           s4['backbone.patch_embed.projection.weight'])  # training went on
    assert runner.optim_wrapper.nonfinite_steps == 1


@pytest.mark.slow
def test_too_many_nonfinite_steps_stop_the_run(tmp_path, photos_dir):
    runner = _runner(tmp_path, photos_dir, optim_wrapper=dict(max_nonfinite_steps=3))
    runner.register_hook(_PoisonLoss(iters=range(100)))
    with pytest.raises(NonFiniteStepError, match='3 optimizer steps in a row.*bf16'):
        runner.train()


@pytest.mark.slow
def test_resume_from_another_architecture_is_refused(tmp_path, photos_dir):
    use_safe_checkpoint_loader()  # as tools/train.py
    runner = _runner(tmp_path / 'a', photos_dir)
    runner.train()
    good = tmp_path / 'a' / 'epoch_1.pth'
    cfg = shrink(demo_cfg(tmp_path / 'b', photos_dir, train_cfg=dict(max_epochs=2)))
    cfg.model.neck.depth = 3  # another auxiliary head
    cfg.load_from, cfg.resume = str(good), True
    with pytest.raises(ValueError, match='does not fit this model.*unexpected|missing'):
        Runner.from_cfg(cfg).train()
    assert not (tmp_path / 'b' / 'epoch_2.pth').exists()


def test_unknown_config_key_and_type_name_the_problem():
    cfg = tiny_model_cfg()
    cfg['neck']['kernal_size'] = 5
    with pytest.raises(TypeError, match='kernal_size'):
        MODELS.build(cfg)
    cfg = tiny_model_cfg()
    cfg['neck']['type'] = 'AuxConvNextHead'
    with pytest.raises(KeyError, match='AuxConvNextHead is not in the'):
        MODELS.build(cfg)
