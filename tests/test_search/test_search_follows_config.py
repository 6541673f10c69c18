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


def test_iteration_schedules_of_an_epoch_loop_are_compressed():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/benchmarks/fashion_mnist/'
                          'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py')
    # Warm-up and decays are written in iterations (469 per epoch), the loop in 6 epochs.
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.max_iters == 6 * 469
    with pytest.raises(ValueError, match='max_iters'):
        search_schedule(cfg, 100)
    warmup, cosine, wd = search_schedule(cfg, 100, iters_per_epoch=469)
    assert (warmup['begin'], warmup['end']) == (0, round(cfg.warmup_iters * 100 / cfg.max_iters))
    assert (cosine['begin'], cosine['end']) == (warmup['end'], 100)
    assert wd['end'] == 100 and all(s['by_epoch'] is False for s in (warmup, cosine, wd))


def test_a_batch_side_multicrop_config_is_searched_with_its_crops():
    from fashion_mnist_utils import fmnist_root
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS

    from mmhssl.search.trainer import base_dataset, build_search_model, heldout_batch
    fmnist_root()
    cfg = Config.fromfile('configs/benchmarks/fashion_mnist/'
                          'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py')
    assert 'data_preprocessor' not in cfg.model  # top-level, as the runner also accepts it
    model = build_search_model(cfg, {'mlp': dict(type='AuxMLPHead', depth=2)})
    assert type(model.data_preprocessor).__name__ == cfg.data_preprocessor.type
    dataset = base_dataset(DATASETS.build(cfg.train_dataloader.dataset))
    images = heldout_batch(dataset, [0, 1, 2], 2, model.data_preprocessor)
    # Two global crops per draw: 3 images x 2 draws x 2 crops, all different.
    assert images.shape == (12, 3, 28, 28)
    assert len({x.numpy().tobytes() for x in images}) == 12
