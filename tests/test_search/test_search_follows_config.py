"""The search trains with the searched config's own loss, optimizer and schedule."""
import math

import pytest
import torch
from conftest import demo_cfg, tiny_mocov3_cfg
from mmpretrain.engine.optimizers import LARS

from mmhssl.engine.optimizers import SSLOptimWrapper
from mmhssl.models import MoCoV3Loss
from mmhssl.search import run_search
from mmhssl.search.trainer import build_search_optim, search_schedule


def test_schedule_is_compressed_into_the_search(tmp_path, photos_dir):
    cfg = demo_cfg(tmp_path, photos_dir)  # 10 epochs: 1 of linear warm-up, then cosine to 1e-6
    assert cfg.train_cfg.max_epochs == 10
    warmup, cosine, wd = search_schedule(cfg, 100)
    assert (warmup['type'], warmup['begin'], warmup['end']) == ('LinearLR', 0, 10)
    assert (cosine['type'], cosine['begin'], cosine['end']) == ('CosineAnnealingLR', 10, 100)
    assert 'T_max' not in cosine and wd['end'] == 100
    assert all(s['by_epoch'] is False and 'convert_to_iter_based' not in s
               for s in (warmup, cosine, wd))

    model = torch.nn.Linear(4, 4)
    wrapper, schedulers = build_search_optim(cfg, model, 100, lr=1e-3)
    lrs, wds = [], []
    for _ in range(100):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        wds.append(wrapper.optimizer.param_groups[0]['weight_decay'])
        for s in schedulers:
            s.step()
    assert lrs[0] < 1e-9 and lrs[10] == pytest.approx(1e-3)
    assert lrs[99] == pytest.approx(1e-6, abs=1e-6) and lrs[50] < lrs[20]
    assert wds[0] == pytest.approx(0.04) and wds[99] == pytest.approx(0.4, rel=1e-2)


def test_mocov3_config_is_searched_with_its_loss_and_optimizer(photos_dir):
    cfg = tiny_mocov3_cfg(photos_dir)
    assert cfg.optim_wrapper.type == 'SSLAmpOptimWrapper'  # AMP: the search runs in fp32
    res = run_search(
        cfg, ['convnext-d1-k3', 'mlp-d2'],
        iters=2,
        seed=0,
        heldout=3,
        views_per_image=2,
        progress=False)
    model, wrapper = res['model'], res['optim_wrapper']
    assert res['loss'] == 'MoCoV3Loss' and res['optimizer'] == 'LARS'
    assert all(
        type(loss) is MoCoV3Loss and loss.temperature == 1.0 for loss in model.losses.values())
    assert type(wrapper) is SSLOptimWrapper and type(wrapper.optimizer) is LARS
    # The config's parameter groups: no decay nor LARS adaptation for norms and biases.
    groups = wrapper.optimizer.param_groups
    assert {g['weight_decay'] for g in groups} == {0.0, 1e-6}
    assert any(g.get('lars_exclude') for g in groups)
    # 100 epochs with 10 of warm-up, compressed into 2 iterations.
    assert [(s['type'], s['begin'], s['end'])
            for s in res['schedule']] == [('LinearLR', 0, 1), ('CosineAnnealingLR', 0, 2)]
    assert all(g['lr'] < 9.6 for g in groups)
    # InfoNCE has no distillation cross-entropy: the candidates rank by 1 - CKA.
    assert 'cka_distance' in res['rule']
    assert sorted(res['ranking']) == sorted(model.names) and not res['skipped']
    for name in res['ranking']:
        r = res['candidates'][name]
        assert r['ce'] is None and r['score'] == r['cka_distance']
        assert 0 <= r['score'] <= 1 and math.isfinite(r['score'])
        assert r['history'][-1]['iter'] == 2
