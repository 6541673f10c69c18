"""The demo end to end (at its --smoke size), and its held-out photo task."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmhssl.evaluation.photo_task import GRID, PhotoTiles, tile_grid
from mmhssl.utils import load_checkpoint_file


def test_tile_grid_splits_each_photo_into_disjoint_memory_and_queries():
    tiles = tile_grid(301, 455)
    assert len(tiles) == GRID * GRID
    memory = [t for t in tiles if t[4]]
    queries = [t for t in tiles if not t[4]]
    assert len(memory) == len(queries) == GRID * GRID // 2
    covered = torch.zeros(301, 455, dtype=torch.int)
    for top, left, h, w, _ in tiles:
        covered[top:top + h, left:left + w] += 1
    assert covered.max() == 1  # no pixel in two tiles, hence none shared by memory and queries
    # Every query tile touches a memory tile of the same photo (a checkerboard, not two halves).
    for top, left, h, w, _ in queries:
        assert any(abs(top - t) + abs(left - c) in (h, w) for t, c, *_ in memory)


@pytest.mark.parametrize('height, width, grid', [(3, 100, 4), (100, 100, 1)])
def test_tile_grid_rejects_impossible_grids(height, width, grid):
    with pytest.raises(ValueError, match='grid'):
        tile_grid(height, width, grid)


def test_photo_tiles_are_labelled_by_photo(photos_dir):
    paths = sorted(osp.join(photos_dir, f) for f in ('camera.png', 'coffee.png'))
    memory, queries = PhotoTiles(paths, 32, 'memory'), PhotoTiles(paths, 32, 'query')
    assert len(memory) == len(queries) == 2 * GRID * GRID // 2
    item = memory[0]
    assert item['inputs'].shape == (3, 32, 32) and item['inputs'].dtype == torch.uint8
    labels = [int(queries[i]['data_samples'].gt_label) for i in range(len(queries))]
    assert labels == [0] * (GRID * GRID // 2) + [1] * (GRID * GRID // 2)
    assert not torch.equal(memory[0]['inputs'], queries[0]['inputs'])
    with pytest.raises(ValueError, match='split'):
        PhotoTiles(paths, 32, 'train')


def test_smoke_demo_trains_evaluates_draws_and_exports(photos_dir, tmp_path):
    work_dir = tmp_path / 'demo'
    proc = subprocess.run([
        sys.executable, 'tools/demo.py', '--smoke', '--work-dir',
        str(work_dir), '--data', photos_dir
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    line = re.search(r'photo kNN top-1\s+before ([\d.]+) % -> after ([\d.]+) %', out)
    assert line, out[-2000:]
    summary = json.loads((work_dir / 'summary.json').read_text())
    for when, printed in zip(('knn_before', 'knn_after'), line.groups()):
        result = summary[when]
        assert 0 <= result['top1'] <= 100
        assert f'{result["top1"]:.1f}' == printed
        assert result['num_train'] == result['num_test'] == 17 * GRID * GRID // 2
    assert summary['iterations'] > 0 and summary['epochs'] == 1

    figure = summary['figure']
    assert figure == str(work_dir / 'summary.png') and f'figure            {figure}' in out
    with open(figure, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    from PIL import Image
    with Image.open(figure) as img:
        img.verify()
        assert img.size[0] > 500 and img.size[1] > 300

    # The exported teacher loads, strictly, into the trained config's backbone (as downstream
    # configs build it: without the pretraining-only mask token).
    exported = summary['exported']
    assert osp.isfile(exported) and f'exported backbone {exported}' in out
    cfg = Config.fromfile(str(work_dir / osp.basename(summary['config'])))
    backbone = MODELS.build(dict(cfg.model.backbone, with_mask_token=False))
    state = load_checkpoint_file(exported)['state_dict']
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()}, strict=True)
    assert cfg.model.backbone.img_size == 64  # the --smoke size was what trained
    assert osp.isfile(summary['checkpoint'])


def test_demo_rejects_bad_epochs(capsys):
    from demo import parse_args
    with pytest.raises(SystemExit):
        parse_args(['--epochs', '0'])
    assert '--epochs must be >= 1' in capsys.readouterr().err
