import pytest
import torch
from mmpretrain.registry import MODELS


def _head(**kw):
    cfg = dict(
        type='AuxConvNeXtHead',
        in_channels=16,
        depth=3,
        kernel_size=3,
        drop_path_rate=0.0,
        base_depth=2)
    cfg.update(kw)
    head = MODELS.build(cfg)
    head.init_weights()
    return head.eval()


def test_first_block_has_no_shortcut():
    head = _head()
    x = torch.randn(2, 16, 4, 4)
    first = head.blocks[0]
    assert not first.shortcut and all(b.shortcut for b in head.blocks[1:])
    # Zeroing the block's last projection zeroes its output: nothing of the input passes through.
    with torch.no_grad():
        first.pwconv2.weight.zero_()
        first.pwconv2.bias.zero_()
        assert torch.count_nonzero(first(x)) == 0
        second = head.blocks[1]
        second.pwconv2.weight.zero_()
        second.pwconv2.bias.zero_()
        torch.testing.assert_close(second(x), x)  # residual block is the identity then


def test_first_shortcut_option_and_cls_is_normed_average():
    head = _head(first_shortcut=True)
    assert all(b.shortcut for b in head.blocks)
    x = torch.randn(2, 16, 4, 4)
    out = head(x)
    y = x
    for b in head.blocks:
        y = b(y)
    torch.testing.assert_close(out['cls'], head.norm(y.mean((2, 3))))


def test_shared_drop_path_ramp_matches_reference():
    head = MODELS.build(
        dict(type='AuxConvNeXtHead', in_channels=8, depth=3, drop_path_rate=0.1, base_depth=12))
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for b in head.blocks]
    expected = torch.linspace(0, 0.1, 15)[12:].tolist()
    # The first block has no shortcut, so its drop-path is never applied (as in the reference).
    assert rates[0] == 0.0
    assert rates[1:] == pytest.approx(expected[1:])


def test_wrong_input_width_is_rejected():
    with pytest.raises(ValueError, match=r'expects a \(B, 16, h, w\) map'):
        _head()(torch.randn(2, 8, 4, 4))
