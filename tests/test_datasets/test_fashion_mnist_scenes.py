"""Fashion-MNIST scenes: masks from the pasted items, tight boxes, disjoint splits, same bytes from
the same seed, and clear errors for broken files; read back by mmdet's and mmseg's own datasets."""
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
from fashion_mnist_utils import fmnist_root
from PIL import Image

from mmhssl.datasets.fashion_mnist import SPLIT_FILES, find_idx_file, read_idx
from mmhssl.datasets.fashion_mnist_scenes import (SceneSettings, check_scenes, make_split,
                                                  write_scenes)

SMALL = SceneSettings(num_scenes=(('train', 30), ('val', 10), ('test', 10)))


@pytest.fixture(scope='module')
def scenes_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scenes'))
    write_scenes(root, SMALL, fmnist_root())
    return root


def _digest(root: str) -> str:
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            h.update(name.encode())
            with open(osp.join(dirpath, name), 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_masks_are_the_pasted_items_pixels():
    s = SMALL
    images = read_idx(find_idx_file(fmnist_root(), SPLIT_FILES['train'][0]))
    for canvas, instances in make_split('train', s, fmnist_root())[:10]:
        shown = np.zeros(canvas.shape, bool)
        for inst in instances:
            mask = inst['mask']
            assert mask.any()
            assert not (shown & mask).any(), 'instance masks overlap'
            shown |= mask
            # The visible pixels are the item's own bright pixels at its pasted scale.
            assert (canvas[mask] > s.threshold).all()
            ys, xs = np.nonzero(mask)
            side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
            assert side <= s.item_size[1]
            item = images[inst['source']]
            assert (item > s.threshold).sum() > 0
        assert (canvas[~shown] == 0).all(), 'pixels outside every mask must be background'


def test_occlusion_is_bounded():
    s = SMALL
    images = read_idx(find_idx_file(fmnist_root(), SPLIT_FILES['train'][0]))
    for canvas, instances in make_split('train', s, fmnist_root()):
        for inst in instances:
            # The smallest the item can be at the smallest scale: its visible part stays larger
            # than (1 - max_occlusion) of that.
            item = np.asarray(
                Image.fromarray(images[inst['source']]).resize((s.item_size[0], s.item_size[0]),
                                                               Image.BILINEAR))
            assert inst['mask'].sum() >= (1 - s.max_occlusion) * (item > s.threshold).sum() * 0.8


def test_coco_boxes_tight_and_segmentation_maps_agree(scenes_root):
    from pycocotools import mask as mask_utils
    with open(osp.join(scenes_root, 'annotations', 'instances_test.json')) as f:
        coco = json.load(f)
    assert len(coco['images']) == 10 and [c['id'] for c in coco['categories']] == list(range(1, 11))
    by_image = {}
    for ann in coco['annotations']:
        mask = mask_utils.decode(
            dict(size=ann['segmentation']['size'],
                 counts=ann['segmentation']['counts'].encode())).astype(bool)
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                ys.max() - ys.min() + 1)
        assert ann['area'] == mask.sum()
        by_image.setdefault(ann['image_id'], []).append((ann['category_id'], mask))
    for image in coco['images']:
        seg = np.asarray(Image.open(osp.join(scenes_root, 'seg_maps', image['file_name'])))
        scene = np.asarray(Image.open(osp.join(scenes_root, 'images', image['file_name'])))
        expected = np.zeros_like(seg)
        for category, mask in by_image.get(image['id'], []):
            expected[mask] = category  # category ids are 1 + label, as the map's classes
        np.testing.assert_array_equal(seg, expected)
        assert (scene[seg == 0] == 0).all()


def test_splits_share_no_item_and_evaluation_uses_the_test_split(scenes_root):
    with open(osp.join(scenes_root, 'scenes.json')) as f:
        sources = json.load(f)['sources']
    for split, items in sources.items():
        assert len(items) == len(set(items)), f'{split} reuses an item'
    assert not set(sources['val']) & set(sources['test'])
    # val and test draw from the two halves of the 10,000 test images, train from the 60,000.
    assert max(sources['val']) < 5000 <= min(sources['test'])
    train_labels = read_idx(find_idx_file(fmnist_root(), SPLIT_FILES['train'][1]))
    assert max(sources['train']) < len(train_labels)


def test_same_seed_same_bytes_other_seed_other_bytes(scenes_root, tmp_path):
    write_scenes(str(tmp_path / 'again'), SMALL, fmnist_root())
    assert _digest(str(tmp_path / 'again')) == _digest(scenes_root)
    other = SceneSettings(seed=1, num_scenes=SMALL.num_scenes)
    write_scenes(str(tmp_path / 'other'), other, fmnist_root())
    assert _digest(str(tmp_path / 'other')) != _digest(scenes_root)


def test_check_scenes_names_broken_and_missing_files(scenes_root, tmp_path):
    import shutil
    check_scenes(scenes_root, SMALL)
    with pytest.raises(ValueError, match='other settings'):
        check_scenes(scenes_root, SceneSettings())
    broken = str(tmp_path / 'broken')
    shutil.copytree(scenes_root, broken)
    ann = osp.join(broken, 'annotations', 'instances_val.json')
    with open(ann, 'w') as f:
        f.write('{"images": [')
    with pytest.raises(ValueError, match='instances_val.json is not a COCO.*Regenerate'):
        check_scenes(broken, SMALL)
    os.remove(ann)
    with pytest.raises(FileNotFoundError, match='instances_val.json is missing.*Regenerate'):
        check_scenes(broken, SMALL)
    with pytest.raises(FileNotFoundError, match='no finished scenes'):
        check_scenes(str(tmp_path / 'nothing'), SMALL)


@pytest.mark.downstream
def test_mmdet_and_mmseg_read_the_files_with_their_own_classes(scenes_root):
    from mmdet.datasets import CocoDataset
    from mmseg.datasets import BaseSegDataset

    from mmhssl.datasets.fashion_mnist_scenes import CLASSES, SEG_CLASSES
    det = CocoDataset(
        data_root=scenes_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=CLASSES),
        pipeline=[])
    info = det.get_data_info(0)
    assert osp.isfile(info['img_path']) and info['instances']
    seg = BaseSegDataset(
        data_root=scenes_root,
        data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train'),
        img_suffix='.png',
        seg_map_suffix='.png',
        metainfo=dict(classes=SEG_CLASSES),
        pipeline=[])
    assert len(seg) == 30 and osp.isfile(seg.get_data_info(0)['seg_map_path'])
