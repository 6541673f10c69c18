"""The Fashion-MNIST zoo entries: weights ship with the package, load by name and keep their kNN."""
import os.path as osp
import sys

import pytest
import yaml
from fashion_mnist_utils import ROOT, fmnist_root

from mmhssl.apis import get_model
from mmhssl.apis.metafiles import is_packaged
from mmhssl.apis.model_zoo import checkpoint_path, get_model_info

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
METAFILE = osp.join(ROOT, 'configs/benchmarks/fashion_mnist/metafile.yml')
METRIC = 'kNN Top 1 (zoo subset)'


def _published():
    with open(METAFILE) as f:
        return [e for e in yaml.safe_load(f)['Models'] if e.get('Weights')]


def test_published_entries_ship_their_weights_with_a_sha256():
    entries = _published()
    assert any(e['Name'].startswith('hssl-ibot_') for e in entries)
    for entry in entries:
        info = get_model_info(entry['Name'])
        assert is_packaged(info.weights) and osp.isfile(checkpoint_path(info))
        assert len(info.data['SHA256']) == 64


@pytest.mark.parametrize('entry', _published(), ids=lambda e: e['Name'])
def test_zoo_weights_load_by_name_and_reproduce_their_knn(entry, monkeypatch):
    fmnist_root()
    import fashion_mnist as bench

    from mmhssl.utils import load_checkpoint_file
    monkeypatch.setenv('MMHSSL_OFFLINE', '1')  # shipped with the package: no download
    backbone = get_model(entry['Name'], pretrained=True, backbone_only=True)
    info = get_model_info(entry['Name'])
    stated = next(r['Metrics'][METRIC] for r in entry['Results'] if METRIC in r['Metrics'])
    measured = bench.zoo_knn(info.config, checkpoint_path(info))  # the config ModelHub loaded
    assert abs(measured - stated) <= 1.0, (measured, stated)
    # get_model loaded these weights strictly: every key of the file, and only the backbone's
    # pretraining-only parameters (the mask token, not exported) left at their initial values.
    shipped = {
        k[len('backbone.'):]
        for k in load_checkpoint_file(checkpoint_path(info))['state_dict']
    }
    model_keys = set(backbone.state_dict())
    assert shipped <= model_keys
    assert model_keys - shipped == set(backbone.pretrain_only_keys)
