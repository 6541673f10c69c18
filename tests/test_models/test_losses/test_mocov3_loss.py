"""MoCo v3's InfoNCE: values, symmetry, and negatives gathered across real processes."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def _inputs(B=6, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = {b: [torch.randn(B, D, generator=g) for _ in range(2)] for b in ('base', 'aux')}
    k = [torch.randn(B, D, generator=g) for _ in range(2)]
    return q, k


def _reference(q, k, T):

    def ctr(a, b):
        logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).t() / T
        return F.cross_entropy(logits, torch.arange(a.shape[0])) * 2 * T

    return {f'loss_nce_{n}': 0.5 * (ctr(v[0], k[1]) + ctr(v[1], k[0])) for n, v in q.items()}


def test_symmetric_infonce_scaled_by_two_temperatures():
    loss = MODELS.build(dict(type='MoCoV3Loss', temperature=0.2))
    q, k = _inputs()
    out, ref = loss(q, k), _reference(q, k, 0.2)
    for name in ref:
        torch.testing.assert_close(out[name], ref[name])
    # One branch alone (the plain baseline) gets the whole weight: MoCo v3's ctr(q1,k2)+ctr(q2,k1).
    single = loss({'base': q['base']}, k)['loss_nce_base']
    torch.testing.assert_close(single, 2 * ref['loss_nce_base'])


def test_needs_two_views_and_positive_temperature():
    loss = MODELS.build(dict(type='MoCoV3Loss'))
    q, k = _inputs()
    with pytest.raises(ValueError, match='at least two views'):
        loss({'base': q['base'][:1]}, k[:1])
    with pytest.raises(ValueError, match='temperature must be positive'):
        MODELS.build(dict(type='MoCoV3Loss', temperature=0.))


def _worker(rank, world, port, out):
    import mmhssl  # noqa: F401  (registers the loss in the child process)
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    q, k = _inputs()
    B = q['base'][0].shape[0] // world
    local = slice(rank * B, (rank + 1) * B)
    q = {n: [x[local].clone().requires_grad_() for x in v] for n, v in q.items()}
    loss = MODELS.build(dict(type='MoCoV3Loss', temperature=0.2))
    losses = loss(q, [x[local] for x in k])
    total = sum(losses.values())
    total.backward()
    totals = [torch.zeros(()) for _ in range(world)]
    dist.all_gather(totals, total.detach())
    grads = [torch.zeros_like(q['base'][0]) for _ in range(world)]
    dist.all_gather(grads, q['base'][0].grad)
    if rank == 0:
        torch.save(dict(losses=torch.stack(totals), grad=torch.cat(grads)), out)
    dist.destroy_process_group()


def test_negatives_are_gathered_across_ranks_like_one_big_batch(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = str(tmp_path / 'ranks.pth')
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    mp.spawn(_worker, args=(2, port, out), nprocs=2, join=True)
    result = torch.load(out)
    # Reference: one process with the whole batch of 6 (every rank's keys are negatives).
    q, k = _inputs()
    q = {n: [x.clone().requires_grad_() for x in v] for n, v in q.items()}
    loss = MODELS.build(dict(type='MoCoV3Loss', temperature=0.2))
    total = sum(loss(q, k).values())
    total.backward()
    # DDP averages the per-rank losses and gradients; equal shards make that the full-batch mean.
    torch.testing.assert_close(result['losses'].mean(), total.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(result['grad'] / 2, q['base'][0].grad, rtol=1e-5, atol=1e-7)
