"""Projection heads: base/auxiliary branches, MoCo v3's projector and predictor."""
import pytest
import torch
from mmpretrain.registry import MODELS
from torch import nn


def _moco(**kw):
    cfg = dict(
        type='MoCoV3Projector',
        in_channels=24,
        aux_in_channels=12,
        hidden_channels=32,
        out_channels=8,
        num_layers=3,
        predictor_layers=2,
        norm_cfg=dict(type='BN1d'))
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def test_mocov3_projector_layout_follows_moco_v3():
    head = _moco()
    linears = [m for m in head.base_mlp if isinstance(m, nn.Linear)]
    norms = [m for m in head.base_mlp if isinstance(m, nn.BatchNorm1d)]
    assert [fc.in_features for fc in linears] == [24, 32, 32]
    assert all(fc.bias is None for fc in linears)
    assert len(norms) == 3 and not norms[-1].affine and norms[0].affine  # last BN affine-free
    assert isinstance(head.base_mlp[2], nn.ReLU)
    assert head.aux_mlp[0].in_features == 12
    # ViT recipe: the predictor ends with an affine-free BN too; ResNet recipe: a plain linear.
    assert isinstance(head.base_predictor[-1], nn.BatchNorm1d)
    assert not head.base_predictor[-1].affine
    no_last_bn = _moco(predictor_last_norm=False)
    assert isinstance(no_last_bn.base_predictor[-1], nn.Linear)


def test_predictor_applies_to_student_queries_only():
    head = _moco().train()
    x, a = torch.randn(4, 24), torch.randn(4, 12)
    torch.testing.assert_close(head(x), head.base_mlp(x))
    torch.testing.assert_close(head(x, student=True), head.base_predictor(head.base_mlp(x)))
    torch.testing.assert_close(head(a, aux=True, student=True), head.aux_predictor(head.aux_mlp(a)))


def test_shared_and_baseline_projectors():
    shared = _moco(aux_in_channels=None, shared_mlp=True)
    assert shared.aux_mlp is None and shared.aux_predictor is None
    x = torch.randn(4, 24)
    torch.testing.assert_close(shared(x, aux=True, student=True), shared(x, student=True))
    plain = _moco(with_aux=False)
    assert not any('aux' in k for k in plain.state_dict())
    with pytest.raises(RuntimeError, match='with_aux=False'):
        plain(x, aux=True)
    with pytest.raises(ValueError, match='shared_mlp needs equal base and aux widths'):
        _moco(shared_mlp=True)


def test_hssl_projector_shares_only_the_prototypes_and_folds_tokens_for_bn():
    head = MODELS.build(
        dict(
            type='HSSLProjector',
            in_channels=16,
            out_channels=32,
            hidden_channels=24,
            bottleneck_channels=8,
            norm_cfg=dict(type='BN1d'))).eval()
    tokens = torch.randn(2, 5, 16)
    out = head(tokens)
    assert out.shape == (2, 5, 32)
    torch.testing.assert_close(out, head(tokens.reshape(10, 16)).reshape(2, 5, 32))
    assert head.aux_mlp is not None and head.aux_mlp is not head.base_mlp


def test_hssl_projector_logits_are_float32_under_bf16_autocast():
    # The teacher divides these cosines by 0.04: bf16 rounding in the head would be noise in the
    # targets. Under autocast the logits must equal a plain float32 forward.
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='HSSLProjector',
            in_channels=64,
            out_channels=1024,
            hidden_channels=256,
            bottleneck_channels=64))
    x = torch.randn(32, 50, 64)
    reference = head(x)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        mixed = head(x)
        mixed_aux_input = head(x.bfloat16())
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, reference, rtol=0, atol=1e-6)
    # A bf16 input (a backbone run under autocast) is only rounded once, at the input.
    assert (mixed_aux_input - reference).abs().max() < 0.02
