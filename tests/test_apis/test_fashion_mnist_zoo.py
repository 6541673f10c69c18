"""The Fashion-MNIST zoo entries: weights ship with the package, load by name through mmhssl's and
mmpretrain's own calls, and give the features and the kNN the benchmark measured."""
import copy
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import mmlogger_warnings_while
from fashion_mnist_utils import ROOT, fmnist_root
from mmengine.config import Config
from mmpretrain.apis import FeatureExtractor
from mmpretrain.apis import get_model as mmpretrain_get_model
from PIL import Image

from mmhssl.apis import get_model
from mmhssl.apis.metafiles import is_packaged
from mmhssl.apis.model_zoo import checkpoint_path, get_model_info
from mmhssl.evaluation.features import features_from_config
from mmhssl.utils import load_checkpoint_file

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
METAFILE = osp.join(ROOT, 'configs/benchmarks/fashion_mnist/metafile.yml')
METRIC = 'kNN Top 1 (zoo subset)'


def _published():
    with open(METAFILE) as f:
        return [e for e in yaml.safe_load(f)['Models'] if e.get('Weights')]


def _training_config(entry) -> Config:
    return Config.fromfile(osp.join(ROOT, entry['Training Config']))


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

    monkeypatch.setenv('MMHSSL_OFFLINE', '1')  # shipped with the package: no download
    backbone = get_model(entry['Name'], pretrained=True, backbone_only=True)
    info = get_model_info(entry['Name'])
    stated = next(r['Metrics'][METRIC] for r in entry['Results'] if METRIC in r['Metrics'])
    # The benchmark's own path, on the config the run was trained with.
    measured = bench.zoo_knn(_training_config(entry), checkpoint_path(info))
    assert abs(measured - stated) <= 1.0, (measured, stated)
    # Strict: the bare backbone has exactly the file's weights, no more, no fewer.
    shipped = {
        k[len('backbone.'):]
        for k in load_checkpoint_file(checkpoint_path(info))['state_dict']
    }
    assert set(backbone.state_dict()) == shipped


def _test_images_as_png(folder, count: int = 3):
    """The first ``count`` Fashion-MNIST test images, saved as 8-bit gray PNG files."""
    from mmhssl.datasets import LocalFashionMNIST
    dataset = LocalFashionMNIST(fmnist_root(), split='test', channels=1)
    paths = []
    for i in range(count):
        path = osp.join(str(folder), f'test_{i}.png')
        Image.fromarray(np.asarray(dataset.get_data_info(i)['img'])).save(path)
        paths.append(path)
    return paths


def _benchmark_features(entry, count: int) -> torch.Tensor:
    """The class tokens of the first test images by the benchmark's feature path (the training
    config's backbone and preprocessor, the checkpoint found in the file as kNN reads it)."""
    cfg = copy.deepcopy(_training_config(entry))
    for split in ('train', 'test'):
        cfg.eval_dataloaders[split].dataset.indices = count
    feats = features_from_config(cfg, checkpoint_path(get_model_info(entry['Name'])), device='cpu')
    return feats['test'][0]


@pytest.mark.parametrize('entry', _published(), ids=lambda e: e['Name'])
def test_three_doors_give_the_model_the_benchmark_measured(entry, tmp_path, monkeypatch):
    name = entry['Name']
    pngs = _test_images_as_png(tmp_path)
    expected = _benchmark_features(entry, len(pngs))
    file_keys = set(load_checkpoint_file(checkpoint_path(get_model_info(name)))['state_dict'])
    monkeypatch.setenv('MMHSSL_OFFLINE', '1')
    # mmpretrain's pretrained=True is the entry's Weights, a path in the checkout.
    monkeypatch.chdir(ROOT)
    theirs, warnings = mmlogger_warnings_while(lambda: mmpretrain_get_model(name, pretrained=True))
    assert warnings == []  # mmengine warns of any missing or unexpected key
    extractor, warnings = mmlogger_warnings_while(
        lambda: FeatureExtractor(name, pretrained=True, device='cpu'))
    assert warnings == []
    # From any other folder: ours by name, theirs through the mmhssl:// checkpoint scheme.
    monkeypatch.chdir(tmp_path)
    ours = get_model(name, pretrained=True)
    anywhere, warnings = mmlogger_warnings_while(
        lambda: FeatureExtractor(name, pretrained=f'mmhssl://{name}', device='cpu'))
    assert warnings == []
    for model in (ours, theirs, extractor.model, anywhere.model):
        assert set(model.state_dict()) == file_keys  # what loaded is all there is
        pre = model.data_preprocessor  # the config's normalisation, not the identity
        assert pre.mean.flatten().tolist() == pytest.approx([72.94] * 3)
        assert pre.std.flatten().tolist() == pytest.approx([90.02] * 3)
        assert model._dataset_meta['classes'][0] == 'T-shirt/top'
        assert model._metainfo.name == name
        got = torch.stack([out[0] for out in FeatureExtractor(model, device='cpu')(pngs)])
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)

    # The bare backbone is there for those who normalise themselves.
    backbone = get_model(name, pretrained=True, backbone_only=True)
    images = torch.stack([torch.from_numpy(np.array(Image.open(p))) for p in pngs]).float()
    inputs = ((images - 72.94) / 90.02)[:, None].expand(-1, 3, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(backbone(inputs)[0], expected, rtol=1e-4, atol=1e-5)
