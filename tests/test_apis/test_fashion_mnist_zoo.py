"""The Fashion-MNIST zoo entries: weights ship with the package, load by name and keep their kNN."""
import os.path as osp
import sys

import pytest
import yaml

from fashion_mnist_utils import ROOT, fmnist_root
from mmhssl.apis import get_model
from mmhssl.apis.model_zoo import get_model_info

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
METAFILE = osp.join(ROOT, 'configs/benchmarks/fashion_mnist/metafile.yml')
METRIC = 'kNN Top 1 (zoo subset)'


def _entries():
    with open(METAFILE) as f:
        return yaml.safe_load(f)['Models']


def test_the_zoo_has_an_ibot_and_an_hssl_ibot_entry_with_packaged_weights():
    names = [e['Name'] for e in _entries()]
    assert any(n.startswith('ibot_') for n in names)
    assert any(n.startswith('hssl-ibot_') for n in names)
    for entry in _entries():
        info = get_model_info(entry['Name'])
        assert info.packaged and len(info.sha256) == 64


@pytest.mark.parametrize('entry', _entries(), ids=lambda e: e['Name'])
def test_zoo_weights_load_by_name_and_reproduce_their_knn(entry, monkeypatch):
    fmnist_root()
    import fashion_mnist as bench
    from mmengine.config import Config
    monkeypatch.setenv('MMHSSL_OFFLINE', '1')  # shipped with the package: no download
    backbone = get_model(entry['Name'], pretrained=True, backbone_only=True)
    stated = next(r['Metrics'][METRIC] for r in entry['Results'] if METRIC in r['Metrics'])
    path = osp.join(osp.dirname(osp.dirname(METAFILE)), '..', '..', entry['Weights'])
    cfg = Config.fromfile(get_model_info(entry['Name']).config)
    measured = bench.zoo_knn(cfg, osp.normpath(path))
    assert abs(measured - stated) <= 1.0, (measured, stated)
    # get_model loaded the same weights strictly (every key, no leftovers).
    state = backbone.state_dict()
    from mmhssl.utils import load_checkpoint_file
    shipped = load_checkpoint_file(osp.normpath(path))['state_dict']
    assert set(state) == {k[len('backbone.'):] for k in shipped}
