"""The optimizer of a real HSSL model: the student grouped as by mmengine, the teacher left out, no
warning per teacher parameter."""
import glob
import logging
import os.path as osp
import uuid

import pytest
from conftest import DEMO_CONFIG, ROOT
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor, build_optim_wrapper
from mmpretrain.registry import MODELS


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _capture():
    """A fresh current MMLogger (what ``print_log(logger='current')`` writes to) and its records."""
    logger = MMLogger.get_instance(f'optim-{uuid.uuid4().hex}', log_level='DEBUG')
    handler = _Records()
    logger.addHandler(handler)
    return handler


def _groups(optimizer):
    """``{id(param): (lr, weight_decay)}`` over all parameter groups."""
    return {
        id(p): (g['lr'], g['weight_decay'])
        for g in optimizer.param_groups
        for p in g['params']
    }


@pytest.fixture(scope='module')
def demo():
    cfg = Config.fromfile(DEMO_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def test_no_warning_per_teacher_parameter_and_student_grouped_as_default(demo):
    cfg, model = demo
    assert cfg.optim_wrapper.constructor == 'StudentOptimWrapperConstructor'
    records = _capture()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    warnings = [r.getMessage() for r in records.records if r.levelno >= logging.WARNING]
    assert warnings == []
    infos = ' '.join(r.getMessage() for r in records.records)
    assert 'EMA teacher' in infos and 'not optimized' in infos

    teacher = {id(p) for p in model.teacher.parameters()}
    student = {id(p) for n, p in model.named_parameters() if not n.startswith('teacher.')}
    assert len(teacher) > 50  # the demo model's teacher: what used to be warned about one by one
    ours = _groups(wrapper.optimizer)
    assert set(ours) == student and not set(ours) & teacher

    # The student's groups are exactly those of mmengine's default constructor (which skips the
    # teacher only because of requires_grad=False, with a warning each time).
    records = _capture()
    default_cfg = cfg.optim_wrapper.to_dict()
    default_cfg.pop('constructor')
    default = DefaultOptimWrapperConstructor(default_cfg, default_cfg.pop('paramwise_cfg'))(model)
    skipped = [r.getMessage() for r in records.records if 'requires_grad=False' in r.getMessage()]
    assert len(skipped) == len(teacher)  # the noise this constructor removes
    assert ours == _groups(default.optimizer)
    # No decay on biases and norms (flat_decay_mult=0), full decay on matrices.
    base_wd = cfg.optim_wrapper.optimizer.weight_decay
    for name, p in model.named_parameters():
        if id(p) in student:
            assert ours[id(p)][1] == (0.0 if p.ndim == 1 else base_wd), name


def test_without_paramwise_options_the_teacher_is_left_out_too(demo):
    cfg, model = demo
    optim_cfg = cfg.optim_wrapper.to_dict()
    optim_cfg.pop('paramwise_cfg')
    wrapper = build_optim_wrapper(model, optim_cfg)
    params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    teacher = {id(p) for p in model.teacher.parameters()}
    student = [n for n, _ in model.named_parameters() if not n.startswith('teacher.')]
    assert len(params) == len(student)
    assert not {id(p) for p in params} & teacher


def test_models_without_teacher_are_built_as_by_default():
    from torch import nn
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    cfg = dict(
        constructor='StudentOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
        paramwise_cfg=dict(flat_decay_mult=0.0))
    ours = build_optim_wrapper(model, cfg)
    assert _groups(ours.optimizer) == {
        id(model[0].weight): (1e-3, 0.1),
        id(model[0].bias): (1e-3, 0.0),
        id(model[1].weight): (1e-3, 0.0),
        id(model[1].bias): (1e-3, 0.0)
    }


PRETRAIN_CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', 'hssl', '**', '*.py'), recursive=True) +
    glob.glob(osp.join(ROOT, 'configs', 'benchmarks', 'fashion_mnist', '*.py'))
    if not p.endswith('_headless.py'))  # published backbones, not trained


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS, ids=osp.basename)
def test_every_pretraining_config_uses_it(path):
    assert Config.fromfile(path).optim_wrapper.constructor == 'StudentOptimWrapperConstructor'
