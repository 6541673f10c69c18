"""Every speed switch leaves the loss and the gradients equal to the plain path.

Tolerances: switches that only reorder memory or replay the same kernels (activation
checkpointing) must match to 1e-6; switches that swap kernels (SDPA vs explicit softmax attention,
channels-last convolutions, fused/foreach AdamW, torch.compile) to 1e-5 relative/absolute in fp32.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model_cfg
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

TIGHT = dict(rtol=1e-6, atol=1e-6)
KERNEL = dict(rtol=1e-5, atol=1e-5)


def _build(cfg=None, **kw):
    torch.manual_seed(0)
    model = MODELS.build(cfg or tiny_model_cfg(**kw))
    model.init_weights()
    return model.train()


def _batch(B=3, G=2, L=1, size=32, local=16, grid=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(B, 3, size, size, generator=g) for _ in range(G)]
    views += [torch.randn(B, 3, local, local, generator=g) for _ in range(L)]
    masks = torch.rand(B, G, grid, grid, generator=g) > 0.6
    return views, [DataSample().set_mask(masks[i]) for i in range(B)]


def _loss_and_grads(model, seed=2):
    views, samples = _batch()
    torch.manual_seed(seed)  # same drop-path draws on both paths
    losses = model.loss(views, samples)
    total = sum(losses.values())
    model.zero_grad()
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return total.detach(), grads


def _assert_same(a, b, tol):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    torch.testing.assert_close(loss_a, loss_b, **tol)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 0
    for name in grads_a:
        # Relative to the tensor's scale: the projector's bias gradients reach ~1e3 (the L2
        # normalisation of a small bottleneck output), where float32 round-off alone is ~1e-4.
        scale = max(1.0, float(grads_b[name].abs().max()))
        torch.testing.assert_close(
            grads_a[name], grads_b[name], rtol=tol['rtol'], atol=tol['atol'] * scale, msg=name)


def _math_attention(q, k, v, attn_mask=None, dropout_p=0., scale=None, is_causal=False):
    """Attention written out: softmax(q k^T / sqrt(d)) v (no dropout in these tests)."""
    assert attn_mask is None and dropout_p == 0. and not is_causal
    attn = (q @ k.transpose(-2, -1)) * (scale or q.shape[-1]**-0.5)
    return attn.softmax(dim=-1) @ v


def test_vit_uses_sdpa_and_it_equals_math_attention():
    model = _build()
    # mmpretrain's MultiheadAttention picks torch's fused SDPA unless qk_scale is set.
    for layer in model.backbone.layers:
        assert layer.attn.scaled_dot_product_attention is F.scaled_dot_product_attention
    fused = _loss_and_grads(model)
    plain = _build()
    for layer in plain.backbone.layers:
        layer.attn.scaled_dot_product_attention = _math_attention
    _assert_same(fused, _loss_and_grads(plain), KERNEL)


def test_activation_checkpointing_keeps_loss_and_grads():
    cfg = tiny_model_cfg()
    cfg['backbone']['drop_path_rate'] = 0.2  # random branches: recomputation must replay them
    plain = _loss_and_grads(_build(cfg))
    cfg = copy.deepcopy(cfg)
    cfg['backbone']['with_cp'] = True
    model = _build(cfg)
    assert model.backbone.with_cp
    _assert_same(plain, _loss_and_grads(model), TIGHT)


def test_channels_last_aux_head_keeps_loss_and_grads():
    plain = _loss_and_grads(_build())
    cfg = tiny_model_cfg()
    cfg['neck']['channels_last'] = True
    model = _build(cfg)
    x = torch.randn(2, 32, 4, 4)
    seen = []
    hook = model.neck.blocks[0].dwconv.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    model.neck(x)
    hook.remove()
    assert seen == [True]
    _assert_same(plain, _loss_and_grads(model), KERNEL)


def _train_params(optimizer: dict, steps: int = 2):
    init_default_scope('mmpretrain')
    model = _build()
    wrapper = build_optim_wrapper(
        model,
        dict(
            type='SSLOptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04, **optimizer),
            clip_grad_per_param=0.3,
            paramwise_cfg=dict(flat_decay_mult=0.0)))
    for i in range(steps):
        views, samples = _batch(seed=10 + i)
        model.train_step(dict(inputs=views, data_samples=samples), wrapper)
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_fused_and_foreach_adamw_match_the_per_tensor_loop():
    loop = _train_params(dict(foreach=False))
    dims = 32
    for switch in (dict(fused=True), dict(foreach=True)):
        other = _train_params(switch)
        for name in loop:
            a, b = other[name], loop[name]
            if name.endswith('attn.qkv.bias'):
                # The key bias has an exactly-zero gradient in exact arithmetic (softmax ignores a
                # per-query constant), so Adam normalises pure round-off there: any step within
                # Adam's bound lr * steps is valid. Query and value biases must match.
                assert (a[dims:2 * dims] - b[dims:2 * dims]).abs().max() <= 1e-3 * 2
                a, b = torch.cat([a[:dims], a[2 * dims:]]), torch.cat([b[:dims], b[2 * dims:]])
            torch.testing.assert_close(a, b, **KERNEL, msg=name)
    start = {n: p for n, p in _build().named_parameters()}
    assert any(not torch.equal(loop[n], start[n]) for n in loop), \
        'the optimizer steps must have changed the parameters'


@pytest.mark.slow
def test_torch_compile_keeps_loss_and_grads():
    plain = _loss_and_grads(_build())
    model = _build()
    # aot_eager traces forward and backward graphs like inductor, without needing a C++ compiler.
    model.loss = torch.compile(model.loss, backend='aot_eager')
    _assert_same(plain, _loss_and_grads(model), KERNEL)
