"""Smoke tests of tools/analysis/benchmark_train.py on the CPU (no timing thresholds)."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from conftest import DEMO_CONFIG, ROOT, tiny_model_cfg
from mmpretrain.registry import MODELS
from torch.utils.flop_counter import FlopCounterMode

_path = osp.join(ROOT, 'tools/analysis/benchmark_train.py')
_spec = importlib.util.spec_from_file_location('benchmark_train', _path)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

TINY = [
    'model.backbone.arch.num_layers=1', 'model.neck.base_depth=1', 'model.head.out_channels=256',
    'model.loss.out_channels=256'
]
FIELDS = ('images_per_s', 'step_time_s', 'step_time_min_s', 'cpu_time_s', 'peak_memory_mb',
          'gflops_per_step', 'gflops_per_image', 'tflops_per_s', 'params_m')


@pytest.mark.slow
def test_two_configs_synthetic_json(tmp_path):
    out = tmp_path / 'bench.json'
    result = bench.main([
        DEMO_CONFIG, DEMO_CONFIG, '--device', 'cpu', '--batch-size', '2', '--iters', '1',
        '--warmup', '1', '--json',
        str(out), '--cfg-options', *TINY
    ])
    saved = json.loads(out.read_text())
    assert saved['results'] == json.loads(json.dumps(result['results']))
    assert len(saved['results']) == 2
    for r in saved['results']:
        for key in FIELDS:
            assert r[key] > 0, key
        assert r['batch_size'] == 2 and r['data'] == 'synthetic'
    # FLOPs are counted, not timed: the same config counts the same FLOPs.
    assert saved['ratio']['gflops_per_image'] == 1.0
    assert saved['ratio']['step_time_s'] > 0


def test_flop_count_includes_cpu_attention():
    torch.manual_seed(0)
    vit = MODELS.build(tiny_model_cfg()['backbone'])
    vit.eval()
    x = torch.randn(2, 3, 32, 32)
    with FlopCounterMode(display=False) as plain:
        vit.forward_tokens(x)
    with bench.flop_counter() as full:
        vit.forward_tokens(x)
    # Per layer and image: q k^T and attn v, each 2 * heads * N^2 * head_dim (N = 1 + 4 * 4).
    n, heads, head_dim, layers, batch = 17, 2, 16, 2, 2
    attention = layers * batch * 2 * (2 * heads * n * n * head_dim)
    assert full.get_total_flops() - plain.get_total_flops() == attention


@pytest.mark.slow
def test_real_batches_from_the_dataloader(photos_dir, tmp_path):
    result = bench.main([
        DEMO_CONFIG, '--device', 'cpu', '--real', '--batch-size', '2', '--iters', '1', '--warmup',
        '0', '--no-flops', '--cfg-options', *TINY,
        f'train_dataloader.dataset.dataset.dataset.data_root={photos_dir}',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'
    ])
    (r, ) = result['results']
    assert r['data'] == 'real' and r['images_per_s'] > 0 and r['peak_memory_mb'] > 0
    assert 'tflops_per_s' not in r


def test_flop_count_of_grouped_conv_backward():
    x = torch.randn(2, 8, 10, 10, requires_grad=True)
    dense, depthwise = torch.nn.Conv2d(8, 16, 3), torch.nn.Conv2d(8, 8, 3, groups=8)
    with FlopCounterMode(display=False) as torch_count:
        dense(x).sum().backward()
    with bench.flop_counter() as ours:
        dense(x).sum().backward()
    assert ours.get_total_flops() == torch_count.get_total_flops()  # dense: torch is right
    with bench.flop_counter() as ours:
        depthwise(x).sum().backward()
    forward = 2 * (2 * 8 * 8 * 8) * 9  # output elements * (1 input channel per group * 3 * 3)
    assert ours.get_total_flops() == 3 * forward  # forward + grad input + grad weight
