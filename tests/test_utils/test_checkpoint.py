import errno
import os
import pickle

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from mmhssl.utils import UntrustedCheckpointError, load_checkpoint_file, save_checkpoint_atomic


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
    # mmengine's own loading path (resume, load_from, init_cfg=Pretrained) goes through it too.
    with pytest.raises(UntrustedCheckpointError):
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
    ckpt = {'state_dict': {}, 'message_hub': {'log_scalars': {'train/loss': buf},
                                              'runtime_info': {'iter': 3}}}
    save_checkpoint_atomic(ckpt, str(tmp_path / 'c.pth'))
    out = load_checkpoint_file(str(tmp_path / 'c.pth'))['message_hub']['log_scalars']['train/loss']
    assert isinstance(out, HistoryBuffer)
    np.testing.assert_array_equal(out.data[0], buf.data[0])
    assert pickle.dumps(out.data) == pickle.dumps(buf.data)
