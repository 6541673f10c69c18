import glob
import json
import os.path as osp

import pytest
import torch
from fashion_mnist_utils import knn_hook_cfg, tiny_fmnist_cfg
from mmengine.runner import Runner

from mmhssl.engine.hooks import OnlineKNNHook


def _train(work_dir, hooks):
    # Drop-path in the student makes its forward draw random numbers, and a train-mode flag left
    # at eval would switch it off: both would change the losses.
    cfg = tiny_fmnist_cfg(work_dir, num_per_class=4, batch_size=8, drop_path_rate=0.2)
    cfg.custom_hooks += hooks
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = torch.as_tensor(runner.message_hub.get_scalar('train/loss').data[0])
    return runner, losses


@pytest.mark.slow
def test_online_knn_logs_without_changing_training(tmp_path):
    _, plain = _train(tmp_path / 'plain', [])
    hooks = [
        # the default: the teacher's base model, here every 2 iterations
        knn_hook_cfg(by_epoch=False, interval=2),
        # the student, through a pipeline that draws random numbers (a flip) while caching
        knn_hook_cfg(
            module='backbone',
            prefix='knn_student',
            by_epoch=True,
            train_dataset=dict(
                type='LocalFashionMNIST',
                split='train',
                num_per_class=10,
                pipeline=[dict(type='RandomFlip', prob=0.5),
                          dict(type='PackInputs')])),
    ]
    runner, watched = _train(tmp_path / 'watched', hooks)
    assert len(plain) == 5  # 40 images, batch 8
    assert torch.equal(plain, watched), 'the online kNN hook changed the training losses'
    assert runner.model.backbone.training and not runner.model.teacher.training

    teacher_hook, student_hook = [h for h in runner.hooks if isinstance(h, OnlineKNNHook)]
    assert [s for s, _ in teacher_hook.history] == [0, 2, 4, 5]  # start, every 2, last
    assert [s for s, _ in student_hook.history] == [0, 5]  # start, end of the only epoch
    assert all(0 <= top1 <= 100 for _, top1 in teacher_hook.history + student_hook.history)
    assert runner.message_hub.get_scalar('knn/top1').current() == teacher_hook.history[-1][1]

    scalars = glob.glob(osp.join(str(tmp_path / 'watched'), '*', 'vis_data', 'scalars.json'))
    with open(scalars[0]) as f:
        logged = [json.loads(line) for line in f if 'knn/top1' in line]
    assert [r['step'] for r in logged] == [0, 2, 4, 5]
    assert [r['knn/top1'] for r in logged] == [t for _, t in teacher_hook.history]


def test_wrong_module_path_fails_before_training(tmp_path):
    cfg = tiny_fmnist_cfg(tmp_path)
    cfg.custom_hooks.append(knn_hook_cfg(module='teacher.base'))
    runner = Runner.from_cfg(cfg)
    with pytest.raises(AttributeError, match="no submodule 'teacher.base'"):
        runner.train()
