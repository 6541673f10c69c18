import errno
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint

from mmhssl.engine.hooks import PlainHistoryHook
from mmhssl.utils import (AtomicLocalBackend, UntrustedCheckpointError, load_checkpoint_file,
                          save_checkpoint_atomic, use_safe_checkpoint_loader)

ATOMIC = dict(backend='atomic_local')
# The message of every refused load: the file, the reason and the opt-in.
REFUSED = r"^Refused to load '.*': .* set MMHSSL_TRUST_CHECKPOINTS=1 and load it again\.$"


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _plant(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _Payload(str(marker))}, path)
    return path, marker


def test_malicious_pickle_is_refused_everywhere(tmp_path, monkeypatch):
    monkeypatch.delenv('MMHSSL_TRUST_CHECKPOINTS', raising=False)
    path, marker = _plant(tmp_path)
    with pytest.raises(UntrustedCheckpointError, match='MMHSSL_TRUST_CHECKPOINTS=1'):
        load_checkpoint_file(str(path))
    # mmengine's own loader (torch's weights_only default) refuses it too...
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    # ...and so does mmengine's loading path (resume, load_from, init_cfg=Pretrained) once our
    # tools have opted in to the safe loader, naming the opt-in for trusted files.
    use_safe_checkpoint_loader()
    with pytest.raises(UntrustedCheckpointError, match='MMHSSL_TRUST_CHECKPOINTS=1'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_explicit_trust_opt_in(tmp_path, monkeypatch):
    path, marker = _plant(tmp_path)
    monkeypatch.setenv('MMHSSL_TRUST_CHECKPOINTS', '1')
    load_checkpoint_file(str(path))
    assert marker.exists()  # the user asked for it


def test_truncated_and_missing_checkpoints(tmp_path):
    path = tmp_path / 'ok.pth'
    save_checkpoint_atomic({'state_dict': {'w': torch.randn(100, 100)}}, str(path))
    data = path.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match='truncated or is not a PyTorch checkpoint'):
        load_checkpoint_file(str(tmp_path / 'cut.pth'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_disk_full_while_saving_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    save_checkpoint_atomic({'state_dict': {'w': torch.ones(3)}}, str(path))
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(torch, 'save', full_disk)
    with pytest.raises(OSError, match='No space left'):
        save_checkpoint_atomic({'state_dict': {'w': torch.zeros(3)}}, str(path))
    monkeypatch.setattr(torch, 'save', real_save)
    assert torch.equal(load_checkpoint_file(str(path))['state_dict']['w'], torch.ones(3))
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary file left behind


def test_plain_pickle_of_numpy_history_round_trips(tmp_path):
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    buf = HistoryBuffer()
    for v in (1.0, 2.0, 3.5):
        buf.update(v)
    ckpt = {
        'state_dict': {},
        'message_hub': {
            'log_scalars': {
                'train/loss': buf
            },
            'runtime_info': {
                'iter': 3
            }
        }
    }
    save_checkpoint_atomic(ckpt, str(tmp_path / 'c.pth'))
    out = load_checkpoint_file(str(tmp_path / 'c.pth'))['message_hub']['log_scalars']['train/loss']
    assert isinstance(out, HistoryBuffer)
    np.testing.assert_array_equal(out.data[0], buf.data[0])
    assert pickle.dumps(out.data) == pickle.dumps(buf.data)


def _training_checkpoint(value: float) -> dict:
    """What mmengine's runner saves: weights and the message hub's log history buffers."""
    buf = HistoryBuffer()
    for v in (1.0, value):
        buf.update(v)
    return {
        'state_dict': {
            'w': torch.full((3, ), value)
        },
        'message_hub': {
            'log_scalars': {
                'train/loss': buf
            },
            'runtime_info': {
                'iter': 2
            }
        }
    }


def test_runner_checkpoints_resume_through_the_safe_loader(tmp_path):
    """PlainHistoryHook + mmengine's save_checkpoint + the opted-in loader, as in a resume."""
    use_safe_checkpoint_loader()
    path = str(tmp_path / 'epoch_1.pth')
    raw = _training_checkpoint(2.0)
    save_checkpoint(raw, path, backend_args=ATOMIC)
    with pytest.raises(UntrustedCheckpointError, match='HistoryBuffer'):  # without the hook
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    checkpoint = _training_checkpoint(2.0)
    PlainHistoryHook().before_save_checkpoint(None, checkpoint)
    save_checkpoint(checkpoint, path, backend_args=ATOMIC)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.current() == 2.0 and buf.mean() == 1.5
    assert torch.equal(loaded['state_dict']['w'], torch.full((3, ), 2.0))


def test_atomic_backend_keeps_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    backend = get_file_backend(str(tmp_path), backend_args=ATOMIC)
    assert isinstance(backend, AtomicLocalBackend)
    path = str(tmp_path / 'epoch_1.pth')
    first = _training_checkpoint(1.0)
    PlainHistoryHook().before_save_checkpoint(None, first)
    save_checkpoint(first, path, backend_args=ATOMIC)  # mmengine's writer, through the backend

    def full_disk(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full_disk)  # the new bytes were written, not yet on disk
    with pytest.raises(OSError, match='No space left'):
        save_checkpoint(_training_checkpoint(5.0), path, backend_args=ATOMIC)
    with pytest.raises(OSError, match='No space left'):
        backend.put_text('epoch_2.pth', str(tmp_path / 'last_checkpoint'))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth']  # no partial or temporary file
    loaded = load_checkpoint_file(path)
    assert torch.equal(loaded['state_dict']['w'], torch.ones(3))
    np.testing.assert_array_equal(loaded['message_hub']['log_scalars']['train/loss'].data[0],
                                  [1.0, 1.0])
    backend.put_text('epoch_1.pth', str(tmp_path / 'last_checkpoint'))
    assert backend.get_text(str(tmp_path / 'last_checkpoint')) == 'epoch_1.pth'


@pytest.mark.parametrize('umask', [0o022, 0o077])
def test_atomic_writes_get_the_mode_of_a_plain_write(tmp_path, umask):
    # A shared folder's readers must be able to read the weights, as with torch.save.
    old = os.umask(umask)
    try:
        save_checkpoint_atomic({'w': torch.ones(1)}, str(tmp_path / 'a.pth'))
        torch.save({'w': torch.ones(1)}, str(tmp_path / 'b.pth'))
        backend = get_file_backend(str(tmp_path), backend_args=ATOMIC)
        backend.put_text('a.pth', str(tmp_path / 'last_checkpoint'))
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {
        'a.pth': 0o666 & ~umask,
        'b.pth': 0o666 & ~umask,
        'last_checkpoint': 0o666 & ~umask
    }


def test_default_runtime_writes_atomic_safe_loadable_checkpoints():
    from conftest import ROOT
    from mmengine.config import Config
    hooks = Config.fromfile(os.path.join(ROOT, 'configs/_base_/default_runtime.py')).default_hooks
    assert isinstance(
        get_file_backend('work_dirs', backend_args=hooks.checkpoint.backend_args),
        AtomicLocalBackend)
    assert any(h.get('type') == 'PlainHistoryHook' for h in hooks.values())


def test_http_checkpoints_load_safely_once_opted_in(tmp_path, monkeypatch):
    from zoo_server import FileServer
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.delenv('MMHSSL_TRUST_CHECKPOINTS', raising=False)
    evil, marker = _plant(tmp_path)
    good = tmp_path / 'good.pth'
    save_checkpoint_atomic(_training_checkpoint(3.0), str(good))
    use_safe_checkpoint_loader()
    with FileServer() as server:
        server.files['evil.pth'] = evil.read_bytes()
        server.files['good.pth'] = good.read_bytes()
        with pytest.raises(UntrustedCheckpointError, match='MMHSSL_TRUST_CHECKPOINTS=1'):
            CheckpointLoader.load_checkpoint(server.url('evil.pth'), map_location='cpu')
        loaded = CheckpointLoader.load_checkpoint(server.url('good.pth'), map_location='cpu')
    assert not marker.exists()
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'], HistoryBuffer)


def _hub_names():
    """One real model name of each hub scheme mmengine registers, with the URL it resolves to."""
    from mmengine.runner import get_external_models, get_mmcls_models, get_torchvision_models
    mmcls = get_mmcls_models()
    mmcls_name = next(n for n in sorted(mmcls) if mmcls[n].startswith('http'))
    openmmlab = get_external_models()['resnet50_v1c']
    return [('torchvision://resnet50', get_torchvision_models()['resnet50']),
            ('modelzoo://resnet50', get_torchvision_models()['resnet50']),
            ('open-mmlab://resnet50_v1c', openmmlab), ('openmmlab://resnet50_v1c', openmmlab),
            (f'mmcls://{mmcls_name}', mmcls[mmcls_name])]


@pytest.fixture
def poisoned_hub(tmp_path, monkeypatch):
    """A torch hub cache in which every hub name's file runs code when unpickled (no network)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))
    monkeypatch.delenv('MMHSSL_TRUST_CHECKPOINTS', raising=False)
    marker = tmp_path / 'pwned'
    names = _hub_names()
    for _, url in names:
        cached = (
            tmp_path / 'torch_home' / 'hub' / 'checkpoints' /
            os.path.basename(url) if url.startswith('http') else tmp_path / 'mmengine_home' / url)
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _Payload(str(marker))}, cached)
    return [name for name, _ in names], marker


def test_hub_names_in_load_from_are_refused(poisoned_hub, tmp_path):
    from conftest import tiny_model_cfg
    from mmengine.runner import Runner
    names, marker = poisoned_hub
    use_safe_checkpoint_loader()  # as tools/train.py
    for i, name in enumerate(names):
        runner = Runner(
            model=tiny_model_cfg(aux=False),
            work_dir=str(tmp_path / 'work'),
            load_from=name,
            default_scope='mmpretrain',
            experiment_name=f'hub-{i}')
        with pytest.raises(UntrustedCheckpointError, match=REFUSED):
            runner.load_or_resume()
        assert not marker.exists(), name


def test_hub_names_in_init_cfg_are_refused(poisoned_hub):
    from mmpretrain.registry import MODELS
    names, marker = poisoned_hub
    use_safe_checkpoint_loader()
    for name in names:
        backbone = MODELS.build(
            dict(type='ResNet', depth=18, init_cfg=dict(type='Pretrained', checkpoint=name)))
        with pytest.raises(UntrustedCheckpointError, match=REFUSED):
            backbone.init_weights()
        assert not marker.exists(), name


def test_scoped_safe_loader_puts_mmengines_loaders_back(tmp_path, monkeypatch):
    monkeypatch.delenv('MMHSSL_TRUST_CHECKPOINTS', raising=False)
    path, marker = _plant(tmp_path)
    with use_safe_checkpoint_loader():
        with pytest.raises(UntrustedCheckpointError, match='MMHSSL_TRUST_CHECKPOINTS=1'):
            CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):  # mmengine's
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    use_safe_checkpoint_loader()  # a tool's plain call outlives a scope opened afterwards
    with use_safe_checkpoint_loader():
        pass
    with pytest.raises(UntrustedCheckpointError, match='MMHSSL_TRUST_CHECKPOINTS=1'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_trusted_load_keeps_the_log_history(tmp_path, monkeypatch):
    checkpoint = _training_checkpoint(2.0)
    PlainHistoryHook().before_save_checkpoint(None, checkpoint)
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(checkpoint, path, backend_args=ATOMIC)
    checked = load_checkpoint_file(path)['message_hub']['log_scalars']['train/loss']
    monkeypatch.setenv('MMHSSL_TRUST_CHECKPOINTS', '1')
    use_safe_checkpoint_loader()  # the path of a trusted resume
    trusted = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    buf = trusted['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert pickle.dumps(buf.data) == pickle.dumps(checked.data)
