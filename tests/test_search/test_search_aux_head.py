import json
import os.path as osp
import shlex

import pytest
import torch
from conftest import demo_cfg, shrink
from mmengine.runner import set_random_seed

from mmhssl.search import CANDIDATES, resolve_candidate, run_search
from mmhssl.search.trainer import build_search_model

BAD = "{'type': 'AuxConvNeXtHead', 'in_channels': 7}"
NAMES = ['convnext-d1-k3', 'transformer-d1', 'mlp-d2']


def tiny_cfg(tmp_path, photos):
    cfg = shrink(demo_cfg(tmp_path, photos), global_size=32, local_size=16)
    cfg.model.backbone.arch = dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    cfg.model.head.update(
        in_channels=32, out_channels=64, hidden_channels=48, bottleneck_channels=16)
    cfg.model.neck.update(in_channels=32, base_depth=2)
    cfg.model.loss.out_channels = 64
    cfg.train_dataloader.batch_size = 2
    return cfg


def test_candidate_set_covers_head_families():
    types = {c['type'] for c in CANDIDATES.values()}
    assert types == {'AuxConvNeXtHead', 'AuxTransformerHead', 'AuxMLPHead'}
    assert resolve_candidate("{'type': 'AuxMLPHead', 'depth': 1}")[1] == dict(
        type='AuxMLPHead', depth=1)
    with pytest.raises(ValueError, match='Unknown candidate'):
        resolve_candidate('convnext-d9')


@pytest.mark.slow
def test_search_trains_all_scores_and_is_deterministic(tmp_path, photos_dir):
    cfg = tiny_cfg(tmp_path, photos_dir)
    set_random_seed(0)
    init = build_search_model(cfg, dict(resolve_candidate(c) for c in NAMES))
    before = {k: v.clone() for k, v in init.state_dict().items()}

    first = run_search(
        cfg, NAMES + [BAD], iters=2, seed=0, heldout=3, views_per_image=2, progress=False)
    model = first['model']
    # The incompatible candidate is reported with the reason and left out; the others run.
    assert list(first['skipped']) == ['AuxConvNeXtHead(in_channels=7)']
    assert 'neck.in_channels=32' in first['skipped']['AuxConvNeXtHead(in_channels=7)']
    assert sorted(first['ranking']) == sorted(NAMES)
    after = model.state_dict()
    assert set(after) == set(before)  # same initialisation and structure as the fresh model
    changed = lambda prefix: any(not torch.equal(before[k], after[k])  # noqa: E731
                                 for k in after if k.startswith(prefix))
    assert changed('backbone.')
    for _, key in model.keys():
        assert changed(f'necks.{key}.') and changed(f'heads.{key}.')
        assert changed(f'teacher.necks.{key}.')
    # Label-free: the training images carry no labels at all.
    from mmpretrain.registry import DATASETS

    from mmhssl.search.trainer import base_dataset
    ds = base_dataset(DATASETS.build(cfg.train_dataloader.dataset))
    assert 'gt_label' not in ds[0]['data_samples']
    for name in NAMES:
        r = first['candidates'][name]
        assert r['history'][0]['iter'] == 0 and r['history'][-1]['iter'] == 2
        assert r['score'] == r['ce'] > 0 and 0 <= r['cka_distance'] <= 1
    scores = [first['candidates'][n]['score'] for n in first['ranking']]
    assert scores == sorted(scores, reverse=True)  # largest discrepancy first

    second = run_search(
        cfg, NAMES + [BAD], iters=2, seed=0, heldout=3, views_per_image=2, progress=False)
    assert second['ranking'] == first['ranking']
    for name in NAMES:
        assert second['candidates'][name]['ce'] == pytest.approx(
            first['candidates'][name]['ce'], rel=1e-4)


def test_all_incompatible_is_an_error(tmp_path, photos_dir):
    cfg = tiny_cfg(tmp_path, photos_dir)
    with pytest.raises(ValueError, match='no candidate can attach'):
        build_search_model(cfg, dict([resolve_candidate(BAD)]))


@pytest.mark.slow
def test_tool_writes_json_png_and_snippet(tmp_path, photos_dir, capsys):
    from search_aux_head import main
    cfg = tiny_cfg(tmp_path, photos_dir)
    cfg_path = osp.join(tmp_path, 'tiny.py')
    cfg.dump(cfg_path)
    out = osp.join(tmp_path, 'search')
    argv = [
        cfg_path, '--candidates', 'convnext-d1-k3', 'mlp-d2', BAD, '--iters', '1', '--heldout', '3',
        '--work-dir', out
    ]
    main(argv)
    text = capsys.readouterr().out
    assert 'skipped' in text and 'Winner:' in text
    with open(osp.join(out, 'aux_search.json')) as f:
        res = json.load(f)
    assert res['winner'] == res['ranking'][0] and len(res['ranking']) == 2
    # The stored command runs the same search when pasted into a shell.
    assert shlex.split(res['command']) == ['python', 'tools/search_aux_head.py'] + argv
    assert res['snippet'].startswith('neck=dict(') and res['snippet'] in text
    with open(osp.join(out, 'aux_search.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    ns = {}
    exec(open(osp.join(out, 'winner_neck.py')).read(), ns)
    assert ns['model']['neck']['type'] in ('AuxConvNeXtHead', 'AuxMLPHead')
