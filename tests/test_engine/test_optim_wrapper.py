import copy

import pytest
import torch
from mmpretrain.registry import OPTIM_WRAPPERS
from torch import nn

from mmhssl.engine.optimizers import clip_grad_per_param_


def test_foreach_clipping_equals_dino_loop():
    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(s)) for s in [(5, 3), (7, ), (2, 2, 2), (4, )]]
    for p, scale in zip(params, [10.0, 0.01, 1.0, 0.2]):
        p.grad = torch.randn_like(p) * scale
    params[3].grad = None
    ref = []
    for p in params:
        r = nn.Parameter(p.detach().clone())
        r.grad = None if p.grad is None else p.grad.clone()
        ref.append(r)
    for p in ref:  # DINO's utils.clip_gradients, written out
        if p.grad is not None:
            coef = 0.3 / (p.grad.data.norm(2) + 1e-6)
            if coef < 1:
                p.grad.data.mul_(coef)
    clip_grad_per_param_(params, 0.3)
    for p, r in zip(params, ref):
        if r.grad is None:
            assert p.grad is None
        else:
            torch.testing.assert_close(p.grad, r.grad, rtol=1e-6, atol=1e-7)
    assert params[1].grad.norm() < 0.3  # small gradients are left unchanged
    torch.testing.assert_close(params[1].grad, ref[1].grad)


def test_frozen_params_get_no_update_and_no_optimizer_state():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='SSLOptimWrapper',
            clip_grad_per_param=0.3,
            optimizer=torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)))
    wrapper.frozen_params = list(model[1].parameters())
    before = copy.deepcopy(model.state_dict())
    loss = model(torch.randn(3, 4)).pow(2).sum()
    wrapper.update_params(loss)
    assert torch.equal(model[1].weight, before['1.weight'])  # not even weight decay
    assert model[1].weight not in wrapper.optimizer.state
    assert not torch.equal(model[0].weight, before['0.weight'])


def test_global_and_per_param_clipping_are_exclusive():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match='either clip_grad'):
        OPTIM_WRAPPERS.build(
            dict(
                type='SSLOptimWrapper',
                clip_grad=dict(max_norm=1.0),
                clip_grad_per_param=0.3,
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='AmpOptimWrapper needs CUDA')
@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_wrapper_clips_true_gradients_and_a_skipped_step_only_lowers_the_scale(dtype):

    def build(kind, model):
        extra = dict(loss_scale='dynamic', dtype=dtype) if kind == 'SSLAmpOptimWrapper' else {}
        return OPTIM_WRAPPERS.build(
            dict(
                type=kind,
                clip_grad_per_param=0.3,
                **extra,
                optimizer=torch.optim.SGD(model.parameters(), lr=1.0)))

    torch.manual_seed(0)
    x = torch.randn(8, 4, device='cuda')
    plain, amp = (nn.Linear(4, 2).cuda() for _ in range(2))
    amp.load_state_dict(plain.state_dict())
    ref, wrapper = build('SSLOptimWrapper', plain), build('SSLAmpOptimWrapper', amp)
    ref.update_params(plain(x).pow(2).sum())
    wrapper.update_params(amp(x).pow(2).sum())
    for a, b in zip(amp.parameters(), plain.parameters()):  # clipped after unscaling
        torch.testing.assert_close(a, b)
    before = copy.deepcopy(amp.state_dict())
    scale = wrapper.loss_scaler.get_scale()
    wrapper.update_params(amp(x).sum() * float('inf'))
    assert wrapper.last_step_skipped and wrapper.nonfinite_steps == 1
    for k, v in amp.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert wrapper.loss_scaler.get_scale() < scale
    with wrapper.optim_context(amp):  # as the algorithm's train_step runs the forward
        y = amp(x)
    assert y.dtype == getattr(torch, dtype)
    wrapper.update_params(y.float().pow(2).sum())
    assert not wrapper.last_step_skipped
    assert not torch.equal(amp.weight, before['weight'])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='AmpOptimWrapper needs CUDA')
def test_amp_wrapper_refuses_global_clipping():
    model = nn.Linear(2, 2).cuda()
    with pytest.raises(ValueError, match='clip_grad_per_param'):
        OPTIM_WRAPPERS.build(
            dict(
                type='SSLAmpOptimWrapper',
                clip_grad=dict(max_norm=1.0),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
