import gzip
import os.path as osp

import numpy as np
import pytest
from fashion_mnist_utils import fmnist_root
from mmpretrain.registry import DATASETS

from mmhssl.datasets.fashion_mnist import read_idx


def write_idx(path, array):
    """Write ``array`` (uint8) as an IDX file, gzip-compressed when ``path`` ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(
        int(n).to_bytes(4, 'big') for n in array.shape)
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(header + array.tobytes())


def build(**kwargs):
    return DATASETS.build(dict(type='LocalFashionMNIST', **kwargs))


def test_reads_the_real_splits():
    root = fmnist_root()
    train, test = build(data_root=root), build(data_root=root, split='test')
    assert len(train) == 60000 and len(test) == 10000
    assert np.bincount(test.get_gt_labels()).tolist() == [1000] * 10
    first = train.get_data_info(0)
    assert first['img'].shape == (28, 28, 3) and first['img'].dtype == np.uint8
    assert (first['img'][..., 0] == first['img'][..., 2]).all()  # gray replicated
    assert first['gt_label'] == 9  # the first training image is an ankle boot
    assert train.metainfo['classes'][9] == 'Ankle boot'
    raw = read_idx(osp.join(root, 'train-images-idx3-ubyte.gz'))
    assert (first['img'][..., 0] == raw[0]).all()


def test_class_subset_is_relabeled_and_deterministic():
    root = fmnist_root()
    ds = build(
        data_root=root,
        split='test',
        classes=['Bag', 1],
        num_per_class=30,
        channels=1,
        pipeline=[dict(type='PackInputs')])
    assert ds.metainfo['classes'] == ('Bag', 'Trouser')
    labels = ds.get_gt_labels()
    assert len(ds) == 60 and np.bincount(labels).tolist() == [30, 30]
    idx = [ds.get_data_info(i)['file_index'] for i in range(len(ds))]
    assert idx == sorted(idx)  # file order kept
    raw_labels = read_idx(osp.join(root, 't10k-labels-idx1-ubyte.gz'))
    assert [int(raw_labels[i]) for i in idx] == [8 if y == 0 else 1 for y in labels]
    # the first 30 of each class in file order
    assert max(i for i, y in zip(idx, labels) if y == 1) == np.flatnonzero(raw_labels == 1)[29]
    item = ds[0]
    assert tuple(item['inputs'].shape) == (1, 28, 28)
    assert int(item['data_samples'].gt_label) == labels[0]


def test_missing_files_name_the_debian_package(tmp_path):
    with pytest.raises(
            FileNotFoundError, match='train-images-idx3-ubyte.gz.*dataset-fashion-mnist'):
        build(data_root=str(tmp_path))


def test_label_image_count_mismatch_is_a_clear_error(tmp_path):
    root = fmnist_root()
    images = read_idx(osp.join(root, 't10k-images-idx3-ubyte.gz'))[:5]
    labels = read_idx(osp.join(root, 't10k-labels-idx1-ubyte.gz'))[:4]
    write_idx(str(tmp_path / 't10k-images-idx3-ubyte.gz'), images)
    write_idx(str(tmp_path / 't10k-labels-idx1-ubyte.gz'), labels)
    with pytest.raises(ValueError, match='5 images but .* 4 labels'):
        build(data_root=str(tmp_path), split='test')


def test_uncompressed_files_and_truncation(tmp_path):
    root = fmnist_root()
    images = read_idx(osp.join(root, 't10k-images-idx3-ubyte.gz'))[:6]
    labels = read_idx(osp.join(root, 't10k-labels-idx1-ubyte.gz'))[:6]
    write_idx(str(tmp_path / 't10k-images-idx3-ubyte'), images)
    write_idx(str(tmp_path / 't10k-labels-idx1-ubyte'), labels)
    ds = build(data_root=str(tmp_path), split='test')
    assert ds.get_gt_labels().tolist() == labels.tolist()
    with open(tmp_path / 't10k-images-idx3-ubyte', 'r+b') as f:
        f.truncate(16 + 5 * 28 * 28)
    with pytest.raises(ValueError, match='truncated'):
        build(data_root=str(tmp_path), split='test')


def test_bad_arguments():
    root = fmnist_root()
    with pytest.raises(ValueError, match="unknown class 'Hat'"):
        build(data_root=root, classes=['Hat'])
    with pytest.raises(ValueError, match='only 1000 images'):
        build(data_root=root, split='test', classes=[0], num_per_class=1001)
    with pytest.raises(ValueError, match='split must be one of'):
        build(data_root=root, split='val')
