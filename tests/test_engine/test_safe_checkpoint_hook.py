"""Crashes while saving and damaged work dirs, on the real runner, demo config and photos."""
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, demo_cfg, mmlogger_warnings_while, shrink
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmhssl.utils import use_safe_checkpoint_loader

FMNIST_CONFIG = osp.join(
    ROOT, 'configs/benchmarks/fashion_mnist/hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_'
    'fashion-mnist.py')


def _cfg(work_dir, photos_dir, epochs, checkpoint=None, **kw):
    """The demo config, one pass over the photos per epoch, a checkpoint after each epoch."""
    return shrink(
        demo_cfg(
            work_dir,
            photos_dir,
            train_cfg=dict(max_epochs=epochs),
            train_dataloader=dict(dataset=dict(dataset=dict(times=1))),
            default_hooks=dict(checkpoint=checkpoint or dict(interval=1)),
            **kw))


def _checkpoints(work_dir):
    return sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))


class _CrashWhileSaving(Hook):
    """Raises inside the runner's save of the checkpoint of ``epoch``, before it is written."""

    def __init__(self, epoch):
        self.epoch = epoch

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] == self.epoch:
            raise KeyboardInterrupt('killed while saving')


def test_a_crash_while_saving_keeps_the_previous_checkpoint(photos_dir, tmp_path):
    use_safe_checkpoint_loader()  # as tools/train.py
    # The shipped Fashion-MNIST setting: keep one checkpoint.
    shipped = Config.fromfile(FMNIST_CONFIG).default_hooks.checkpoint
    assert shipped.max_keep_ckpts == 1
    runner = Runner.from_cfg(_cfg(tmp_path, photos_dir, 2, checkpoint=shipped))
    runner.register_hook(_CrashWhileSaving(2))
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert _checkpoints(tmp_path) == ['epoch_1.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    resumed = Runner.from_cfg(_cfg(tmp_path, photos_dir, 2, checkpoint=shipped, resume=True))
    resumed.train()
    assert resumed.epoch == 2
    assert _checkpoints(tmp_path) == ['epoch_2.pth']  # the old one went once the new was complete


def test_a_killed_write_leaves_no_temporary_file_behind(photos_dir, tmp_path):
    kill_while_pickling = '\n'.join([
        'import os, signal, sys', 'from mmhssl.utils import save_checkpoint_atomic', 'class Kill:',
        '    def __reduce__(self):', '        os.kill(os.getpid(), signal.SIGKILL)',
        "save_checkpoint_atomic({'state_dict': Kill()}, sys.argv[1])"
    ])
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(
        [sys.executable, '-c', kill_while_pickling,
         str(tmp_path / 'epoch_1.pth')],
        env=env,
        timeout=300)
    assert proc.returncode == -signal.SIGKILL
    left = [f for f in os.listdir(tmp_path) if f.startswith('.tmp-')]
    assert len(left) == 1 and not (tmp_path / 'epoch_1.pth').exists()
    Runner.from_cfg(_cfg(tmp_path, photos_dir, 1)).train()
    assert not any(f.startswith('.tmp-') for f in os.listdir(tmp_path))
    assert _checkpoints(tmp_path) == ['epoch_1.pth']


@pytest.fixture(scope='module')
def two_epochs(photos_dir, tmp_path_factory):
    """A work dir after two epochs: epoch_1.pth, epoch_2.pth and last_checkpoint naming the 2nd."""
    work_dir = tmp_path_factory.mktemp('two_epochs')
    Runner.from_cfg(_cfg(work_dir, photos_dir, 2)).train()
    assert _checkpoints(work_dir) == ['epoch_1.pth', 'epoch_2.pth']
    return work_dir


def _resume(work_dir, photos_dir):
    """What runner.train() does up to the resume; returns the warnings meanwhile."""
    use_safe_checkpoint_loader()  # as tools/train.py
    runner = Runner.from_cfg(_cfg(work_dir, photos_dir, 3, resume=True))

    def start():
        runner.call_hook('before_run')
        runner.load_or_resume()
        return runner.epoch

    return mmlogger_warnings_while(start)


@pytest.mark.parametrize('damage', ['dangling', 'empty', 'truncated'])
def test_resume_falls_back_to_the_newest_intact_checkpoint(two_epochs, photos_dir, tmp_path,
                                                           damage):
    work_dir = tmp_path / 'work'
    shutil.copytree(two_epochs, work_dir)
    newest = work_dir / 'epoch_2.pth'
    if damage == 'dangling':
        (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_3.pth'))
        expected, named = newest, work_dir / 'epoch_3.pth'
    elif damage == 'empty':
        (work_dir / 'last_checkpoint').write_text('')
        expected, named = newest, None
    else:
        (work_dir / 'last_checkpoint').write_text(str(newest))
        newest.write_bytes(newest.read_bytes()[:newest.stat().st_size // 2])
        expected, named = work_dir / 'epoch_1.pth', newest
    epoch, warnings = _resume(work_dir, photos_dir)
    assert epoch == int(expected.stem.split('_')[1])
    assert len(warnings) == 1, warnings
    assert str(expected) in warnings[0] and 'last_checkpoint' in warnings[0]
    if named:
        assert str(named) in warnings[0]


@pytest.mark.parametrize('folder', ['empty', 'missing'])
def test_a_resume_that_finds_nothing_says_so(photos_dir, tmp_path, folder):
    work_dir = tmp_path / 'work'
    if folder == 'empty':
        work_dir.mkdir()
    epoch, warnings = _resume(work_dir, photos_dir)
    assert epoch == 0
    assert len(warnings) == 1 and 'found no checkpoint' in warnings[0], warnings
    assert str(work_dir) in warnings[0]
