"""The transfer probes: items pasted where their features are pooled, the zoo weights really in the
probed backbone, and the frozen probe leaving the backbone as loaded, on the real mmseg runner."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from fashion_mnist_utils import fmnist_root

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture
def probe(monkeypatch):
    # The tool imports its sibling transfer.py as a script does.
    monkeypatch.syspath_prepend(osp.join(ROOT, 'tools', 'benchmarks'))
    import transfer_probe
    return transfer_probe


def test_items_are_pasted_on_the_patch_grid(probe):
    items = np.arange(1, 2 * 28 * 28 + 1, dtype=np.int64).reshape(2, 28, 28)
    canvases = probe.place(items, [(0, 36), (16, 16)])
    for canvas, item, (y, x) in zip(canvases, items, [(0, 36), (16, 16)]):
        assert np.array_equal(canvas[y:y + 28, x:x + 28], item)
        assert canvas.sum() == item.sum()  # nothing outside the item's patches
    with pytest.raises(ValueError, match='grid'):
        probe.place(items[:1], [(2, 0)])
    with pytest.raises(ValueError, match='inside the canvas'):
        probe.place(items[:1], [(40, 0)])
    rng = np.random.default_rng(0)
    for placement in probe.PLACEMENTS[1:]:
        probe.place(np.zeros((50, 28, 28)), probe.corners_of(placement, 50, rng))


def test_the_probed_backbone_holds_the_zoo_weights(probe):
    from mmhssl.apis import fetch_checkpoint
    from mmhssl.utils.checkpoint import load_checkpoint_file
    state = load_checkpoint_file(fetch_checkpoint(probe.ROWS['iBOT']))
    state = state.get('state_dict', state)
    for size in (28, 64):
        backbone = probe.backbone_for('iBOT', size, seed=0)
        own = backbone.state_dict()
        block = 'layers.3.ffn.layers.1.weight'
        assert torch.equal(own[block], state['backbone.' + block])
        assert own['pos_embed'].shape[1] == (size // 4)**2 + 1
    random = probe.backbone_for('Random init', 28, seed=0).state_dict()
    assert not torch.equal(random[block], state['backbone.' + block])


@pytest.mark.slow
def test_items_probe_scores_every_placement(probe):
    fmnist_root()
    args = probe.parse_args(['--num-train', '60', '--num-test', '20'])
    result = probe.items_probe('HSSL-iBOT', args)
    assert set(result) == set(probe.PLACEMENTS)
    assert all(0 <= v <= 100 for v in result.values())


@pytest.mark.downstream
@pytest.mark.slow
def test_frozen_probe_leaves_the_backbone_as_loaded(probe, tmp_path):
    from transfer import SMOKE_SCENES, ensure_scenes

    from mmhssl.apis import fetch_checkpoint
    from mmhssl.utils import use_safe_checkpoint_loader
    from mmhssl.utils.checkpoint import load_checkpoint_file
    fmnist_root()
    ensure_scenes(str(tmp_path / 'scenes'), SMOKE_SCENES)
    args = probe.parse_args([
        '--data-root',
        str(tmp_path / 'scenes'), '--work-dir',
        str(tmp_path / 'work'), '--max-iters', '2'
    ])
    with use_safe_checkpoint_loader():  # as main() runs it: the run resumes its own checkpoints
        result = probe.frozen_probe('iBOT', args)
    assert result['iterations'] == 2 and math.isfinite(result['mIoU'])
    ckpt = sorted((tmp_path / 'work' / 'frozen').glob('*/ibot_seed0/iter_2.pth'))
    trained = load_checkpoint_file(str(ckpt[0]), trusted=True)['state_dict']  # made here
    zoo = load_checkpoint_file(fetch_checkpoint(probe.ROWS['iBOT']))
    zoo = zoo.get('state_dict', zoo)
    blocks = [k for k in zoo if k.startswith('backbone.layers.')]
    assert blocks and all(torch.equal(trained[k], zoo[k]) for k in blocks)
