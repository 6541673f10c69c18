import copy
import os.path as osp
import sys

import pytest
import torch
from conftest import ROOT
from mmengine.dataset import default_collate
from mmpretrain.registry import DATASETS, MODELS
from test_search.test_search_aux_head import tiny_cfg

from mmhssl.search import hssl_discrepancy
from mmhssl.search.trainer import base_dataset
from mmhssl.utils.checkpoint import save_checkpoint_atomic

sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))


@pytest.mark.slow
def test_discrepancy_tool_on_a_trained_checkpoint(tmp_path, photos_dir):
    from discrepancy import main
    cfg = tiny_cfg(tmp_path, photos_dir)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    dataset = base_dataset(DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset)))
    # One real training step so student and teacher differ.
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = model.data_preprocessor(default_collate([dataset[0], dataset[1]]), True)
    sum(model.loss(data['inputs'], data['data_samples']).values()).backward()
    optim.step()
    ckpt = osp.join(tmp_path, 'hssl.pth')
    save_checkpoint_atomic(
        dict(state_dict=model.state_dict(), meta=dict(cfg=cfg.pretty_text)), ckpt)

    out = osp.join(tmp_path, 'disc.json')
    res = main([ckpt, '--num-images', '3', '--views', '2', '--out', out])  # config from meta
    assert osp.exists(out) and res['num_views'] == 3 * 2 * 2  # images x draws x global crops
    assert res['ce'] > 0
    assert 0 <= res['cka_distance'] <= 1 and 0 <= res['cka_distance_student'] <= 1
    assert res['cka_distance'] != res['cka_distance_student']  # teacher aux != student aux
    # An explicit --config gives the same numbers (same seeded images, same weights).
    cfg_path = osp.join(tmp_path, 'cfg.py')
    cfg.dump(cfg_path)
    again = main([ckpt, '--config', cfg_path, '--num-images', '3', '--views', '2'])
    for key in ('ce', 'cka_distance', 'cka_distance_student'):
        assert again[key] == pytest.approx(res[key], rel=1e-5)


def test_hssl_discrepancy_needs_an_aux_head(tmp_path, photos_dir):
    cfg = tiny_cfg(tmp_path, photos_dir)
    plain = copy.deepcopy(cfg.model)
    plain.neck = None
    plain.head.with_aux = False
    model = MODELS.build(plain)
    with pytest.raises(ValueError, match='no auxiliary head'):
        hssl_discrepancy(model, torch.zeros(2, 3, 32, 32))


def test_fresh_model_student_equals_teacher(tmp_path, photos_dir):
    cfg = tiny_cfg(tmp_path, photos_dir)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    model.eval()
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    res = hssl_discrepancy(model, images)
    # The teacher starts as a copy of the student: both CKA variants coincide.
    assert res['cka_distance'] == pytest.approx(res['cka_distance_student'], abs=1e-9)
