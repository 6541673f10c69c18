"""End-to-end training through the real runner, config, data pipeline and bundled photos."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import DEMO_CONFIG, ROOT, demo_cfg, shrink
from mmengine.dataset import default_collate
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, MODELS

from mmhssl.utils import load_checkpoint_file, use_safe_checkpoint_loader


@pytest.mark.slow
def test_real_iterations_reduce_the_loss(photos_dir, tmp_path):
    cfg = shrink(demo_cfg(tmp_path, photos_dir))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = default_collate([dataset[i] for i in range(8)])
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    losses = []
    # Few steps: on one fixed batch the centers catch up after ~5 steps and the loss rises again.
    for _ in range(5):
        log = model.train_step(batch, wrapper)
        model.update_teacher()  # after the step, as HSSLScheduleHook does in the runner
        losses.append(float(log['loss']))
    assert all(map(lambda x: x == x, losses))
    assert sum(losses[-2:]) / 2 < losses[0] - 0.2, losses


class _Preempt(Hook):
    """Stops the run right after the checkpoint of epoch ``stop`` was written."""
    priority = 'LOWEST'

    def __init__(self, stop):
        self.stop = stop

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.stop:  # runner.epoch counts from 0 inside the epoch
            raise KeyboardInterrupt('preempted')


def _run(cfg, hooks=()):
    runner = Runner.from_cfg(cfg)
    for h in hooks:
        runner.register_hook(h)
    try:
        runner.train()
    except KeyboardInterrupt:
        pass
    return runner


@pytest.mark.slow
@pytest.mark.parametrize('workers', [0, 1])
def test_resume_continues_exactly(photos_dir, tmp_path, workers):
    """Also with a persistent data worker, as the demo and ImageNet configs load data."""
    use_safe_checkpoint_loader()  # as tools/train.py
    common = dict(
        train_cfg=dict(max_epochs=2),
        default_hooks=dict(checkpoint=dict(interval=1)),
        train_dataloader=dict(
            num_workers=workers,
            persistent_workers=workers > 0,
            dataset=dict(dataset=dict(times=2))))
    full = _run(shrink(demo_cfg(tmp_path / 'full', photos_dir, **common)))
    _run(shrink(demo_cfg(tmp_path / 'split', photos_dir, **common)), hooks=[_Preempt(1)])
    assert osp.exists(tmp_path / 'split' / 'epoch_1.pth')
    assert not osp.exists(tmp_path / 'split' / 'epoch_2.pth')
    resumed = _run(shrink(demo_cfg(tmp_path / 'split', photos_dir, resume=True, **common)))
    assert resumed.iter == full.iter and resumed.epoch == full.epoch == 2
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:  # student, teacher and centers
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6, msg=k)
    sa, sb = full.optim_wrapper.state_dict(), resumed.optim_wrapper.state_dict()
    for (i, x), (j, y) in zip(sa['state'].items(), sb['state'].items()):
        torch.testing.assert_close(y['exp_avg'], x['exp_avg'], rtol=0, atol=1e-6)
    assert sa['param_groups'][0]['lr'] == pytest.approx(sb['param_groups'][0]['lr'])
    assert sa['param_groups'][0]['weight_decay'] == pytest.approx(
        sb['param_groups'][0]['weight_decay'])


def test_resume_from_missing_path_is_a_clear_error(tmp_path):
    from train import main
    with pytest.raises(SystemExit, match='train.py: error: --resume .*: no such checkpoint'):
        main([DEMO_CONFIG, '--work-dir', str(tmp_path), '--resume', str(tmp_path / 'nope.pth')])


def _final_state(work_dir):
    ckpt = load_checkpoint_file(osp.join(work_dir, 'epoch_1.pth'))
    return ckpt['state_dict']


def launch_script(checkout, name: str) -> str:
    """``tools/<name>`` of a checkout whose ``.venv`` is the environment running the tests.

    The checkout links to this one's folders, so the script finds the environment as in a
    checkout set up by ``make env``, whichever folder the test environment lives in.
    """
    os.makedirs(checkout)
    for folder in ('tools', 'mmhssl', 'configs'):
        os.symlink(osp.join(ROOT, folder), osp.join(checkout, folder))
    os.symlink(sys.prefix, osp.join(checkout, '.venv'))
    return osp.join(checkout, 'tools', name)


def bare_shell_env(**extra) -> dict:
    """A shell's environment without an activated virtual environment or Python paths."""
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH')}
    path = [p for p in env.get('PATH', '').split(os.pathsep) if not p.startswith(sys.prefix)]
    env.update(PATH=os.pathsep.join(path), OMP_NUM_THREADS='1', **extra)
    return env


@pytest.mark.slow
def test_two_process_ddp_equals_one_process(photos_dir, tmp_path):
    """Same global batch: 2 gloo processes x 4 images vs 1 process x 8 images."""
    opts = [
        f'train_dataloader.dataset.dataset.dataset.data_root={photos_dir}',
        'train_dataloader.dataset.dataset.times=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
        'model.backbone.drop_path_rate=0.0', 'model.neck.drop_path_rate=0.0',
        'default_hooks.logger.interval=1'
    ]
    env = dict(
        os.environ,
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
        OMP_NUM_THREADS='1')
    train = osp.join(ROOT, 'tools', 'train.py')
    one = subprocess.run([
        sys.executable, train, DEMO_CONFIG, '--work-dir',
        str(tmp_path / 'one'), '--cfg-options', 'train_dataloader.batch_size=8', *opts
    ],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=900)
    assert one.returncode == 0, one.stderr[-3000:]
    # 2 processes as the README starts them, from a shell where no environment is activated.
    two = subprocess.run([
        'bash',
        launch_script(tmp_path / 'checkout', 'dist_train.sh'), DEMO_CONFIG, '2', '--work-dir',
        str(tmp_path / 'two'), '--cfg-options', 'train_dataloader.batch_size=4', *opts
    ],
                         env=bare_shell_env(PORT='29517'),
                         capture_output=True,
                         text=True,
                         timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _final_state(tmp_path / 'one'), _final_state(tmp_path / 'two')
    assert a.keys() == b.keys()
    diffs = {}
    for k in a:
        d = (a[k].float() - b[k].float()).abs()
        if k.endswith('attn.qkv.bias'):
            c = d.numel() // 3
            diffs[k + '[q,v]'] = float(torch.cat([d[:c], d[2 * c:]]).max())
            diffs[k + '[k]'] = float(d[c:2 * c].max())
        else:
            diffs[k] = float(d.max())
    # The key bias of attention has a zero gradient in exact arithmetic (softmax ignores a
    # constant added to all logits of a query); AdamW turns its round-off gradient into lr-sized
    # steps of random sign, so only a loose bound is meaningful there.
    key_bias = {k: v for k, v in diffs.items() if k.endswith('[k]')}
    rest = sorted(((k, v) for k, v in diffs.items() if k not in key_bias), key=lambda kv: -kv[1])
    assert rest[0][1] <= 1e-5, rest[:5]
    assert max(key_bias.values()) <= 5e-4, key_bias
    # The runs really trained: parameters moved away from their initial values in both.
    assert not torch.equal(a['backbone.layers.0.ffn.layers.1.weight'],
                           a['teacher.backbone.layers.0.ffn.layers.1.weight'])


@pytest.mark.slow
def test_gradient_accumulation_equals_a_larger_batch(photos_dir, tmp_path):
    """2 micro-batches of 4 with accumulative_counts=2 vs batches of 8 (constant lr and wd)."""

    def run(name, batch, counts):
        cfg = shrink(
            demo_cfg(
                tmp_path / name,
                photos_dir,
                train_cfg=dict(max_epochs=1),
                optim_wrapper=dict(accumulative_counts=counts),
                train_dataloader=dict(
                    batch_size=batch, drop_last=True, dataset=dict(dataset=dict(times=2)))),
            drop_path=False)
        cfg.param_scheduler = []  # lr schedules step per iteration, not per optimizer step
        return _run(cfg)

    big, acc = run('big', 8, 1), run('acc', 4, 2)
    assert acc.iter == 2 * big.iter
    a, b = big.model.state_dict(), acc.model.state_dict()
    for k in a:  # student, teacher (EMA once per step) and centers (one update per step)
        d = float((a[k] - b[k]).abs().max())
        if k.endswith('attn.qkv.bias'):  # see the key-bias note in the DDP test
            c = a[k].numel() // 3
            d = float(torch.cat([(a[k] - b[k])[:c], (a[k] - b[k])[2 * c:]]).abs().max())
        assert d <= 1e-5, (k, d)
    assert not torch.equal(a['loss_module.cls_center'], torch.zeros_like(
        a['loss_module.cls_center']))


def _window_cfg(work_dir, photos_dir, **kw):
    """3 iterations per epoch, 2 micro-batches per step: a window spans the end of epoch 1."""
    return shrink(
        demo_cfg(
            work_dir,
            photos_dir,
            train_cfg=dict(max_epochs=2),
            optim_wrapper=dict(accumulative_counts=2),
            default_hooks=dict(checkpoint=dict(interval=1)),
            train_dataloader=dict(
                batch_size=5, drop_last=True, dataset=dict(dataset=dict(times=1))),
            **kw))


@pytest.mark.slow
def test_resume_inside_an_accumulation_window_continues_exactly(photos_dir, tmp_path):
    use_safe_checkpoint_loader()  # as tools/train.py
    full = _run(_window_cfg(tmp_path / 'full', photos_dir))
    assert full.iter == 6
    _run(_window_cfg(tmp_path / 'split', photos_dir), hooks=[_Preempt(1)])
    ckpt = load_checkpoint_file(str(tmp_path / 'split' / 'epoch_1.pth'))
    # The checkpoint holds the open window: its gradients and its center statistics.
    assert any(g is not None for g in ckpt['optimizer']['window_grads'])
    assert set(ckpt['meta']['pending_center']) == {'cls_center', 'patch_center'}
    resumed = _run(_window_cfg(tmp_path / 'split', photos_dir, resume=True))
    assert resumed.iter == full.iter
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for k in a:  # student, teacher and centers
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6, msg=k)
    sa, sb = full.optim_wrapper.state_dict(), resumed.optim_wrapper.state_dict()
    for x, y in zip(sa['state'].values(), sb['state'].values()):
        torch.testing.assert_close(y['exp_avg'], x['exp_avg'], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_load_from_takes_the_weights_but_not_the_run_state(photos_dir, tmp_path):
    """Random streams and an open window's statistics continue on resume only."""
    from mmhssl.engine.hooks import HSSLScheduleHook, RNGStateHook
    use_safe_checkpoint_loader()  # as tools/train.py
    _run(_window_cfg(tmp_path / 'a', photos_dir), hooks=[_Preempt(1)])
    path = str(tmp_path / 'a' / 'epoch_1.pth')
    saved = load_checkpoint_file(path)['meta']
    for resume in (False, True):
        runner = Runner.from_cfg(
            _window_cfg(tmp_path / f'b{resume}', photos_dir, load_from=path, resume=resume))
        runner.load_or_resume()
        if not resume:  # a resume builds it to load its state
            runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
        torch.manual_seed(123)
        for hook in runner.hooks:
            if isinstance(hook, (RNGStateHook, HSSLScheduleHook)):
                hook.before_train(runner)
        pending = runner.model.loss_module.pending_center
        assert torch.equal(torch.get_rng_state(), saved['rng_state']['torch']) == resume
        assert bool(pending) == resume
        if resume:
            torch.testing.assert_close(pending['cls_center'][0],
                                       saved['pending_center']['cls_center'][0])
