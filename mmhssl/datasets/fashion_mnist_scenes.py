"""Fashion-MNIST scenes: canvases of several Fashion-MNIST items for detection and segmentation.

Each scene pastes a few items, each resized to its own scale, at random positions on a black canvas;
an item's instance mask is its own pixels above a threshold, less what later items cover, and no
item loses more than ``max_occlusion`` of itself. Training scenes draw items from the train split
and validation / test scenes from two disjoint halves of the test split, so a model pretrained on
the train split never saw an evaluation item. The files are written once, deterministically from a
seed, in the formats users bring:

.. code-block:: text

    ROOT/
        images/{train,val,test}/00000.png     grayscale scenes
        annotations/instances_{split}.json    COCO instances with RLE masks (mmdet CocoDataset)
        seg_maps/{train,val,test}/00000.png   0 = background, 1 + Fashion-MNIST label (mmseg)
        scenes.json                           the settings and each split's source items
"""
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmpretrain.datasets.categories import FASHIONMNIST_CATEGORITES
from PIL import Image

from .fashion_mnist import DEFAULT_ROOT, SPLIT_FILES, find_idx_file, read_idx

CLASSES = tuple(FASHIONMNIST_CATEGORITES)
SEG_CLASSES = ('background', ) + CLASSES
SPLITS = ('train', 'val', 'test')
REGENERATE_HINT = ('Regenerate the scenes with `python tools/benchmarks/transfer.py --only-data` '
                   '(or delete the folder; the benchmark writes it again).')


@dataclass(frozen=True)
class SceneSettings:
    """How scenes are made; two folders hold the same bytes iff their settings are equal.

    Args:
        seed (int): Seed of every draw. Defaults to 0.
        canvas (int): Side of the square canvas in pixels. Defaults to 64.
        items (tuple): Least and most items per scene. Defaults to (1, 3).
        item_size (tuple): Least and most side of a pasted item (28 px originally). Defaults to
            (24, 40).
        max_occlusion (float): Largest fraction of an item's mask that later items may cover.
            Defaults to 0.3.
        threshold (int): Gray level above which a pixel belongs to its item. Defaults to 20.
        num_scenes (dict): Scenes per split. Defaults to 2,000 / 250 / 500.
    """
    seed: int = 0
    canvas: int = 64
    items: Tuple[int, int] = (1, 3)
    item_size: Tuple[int, int] = (24, 40)
    max_occlusion: float = 0.3
    threshold: int = 20
    num_scenes: Tuple[Tuple[str, int], ...] = (('train', 2000), ('val', 250), ('test', 500))

    def as_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def _source(split: str, data_root: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, labels and IDX indices of the items a scene split may use."""
    idx_split = 'train' if split == 'train' else 'test'
    images = read_idx(find_idx_file(data_root, SPLIT_FILES[idx_split][0]))
    labels = read_idx(find_idx_file(data_root, SPLIT_FILES[idx_split][1]))
    index = np.arange(len(labels))
    if split != 'train':  # val and test never share an item
        half = len(labels) // 2
        index = index[:half] if split == 'val' else index[half:]
    return images, labels, index


def compose_scene(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
                  pool: np.ndarray, s: SceneSettings) -> Tuple[np.ndarray, List[dict]]:
    """One scene: the canvas and its instances (``label``, ``mask``, ``source``).

    Items are drawn from ``pool`` (IDX indices); an item that finds no place within the occlusion
    bound after a few tries is left out, so a scene may hold fewer items than drawn.
    """
    canvas = np.zeros((s.canvas, s.canvas), np.uint8)
    owner = np.full((s.canvas, s.canvas), -1, np.int64)  # which instance each pixel shows
    full_areas: List[int] = []
    instances: List[dict] = []
    for src in rng.choice(pool, size=rng.integers(s.items[0], s.items[1] + 1), replace=False):
        size = int(rng.integers(s.item_size[0], s.item_size[1] + 1))
        item = np.asarray(Image.fromarray(images[src]).resize((size, size), Image.BILINEAR))
        mask = item > s.threshold
        for _ in range(20):
            y, x = (int(v) for v in rng.integers(0, s.canvas - size + 1, size=2))
            covered = owner[y:y + size, x:x + size][mask]
            lost = np.bincount(covered[covered >= 0], minlength=len(instances))
            visible = np.bincount(owner[owner >= 0], minlength=len(instances))
            if all(visible[i] - lost[i] >= (1 - s.max_occlusion) * full_areas[i]
                   for i in range(len(instances))):
                break
        else:
            continue
        canvas[y:y + size, x:x + size][mask] = item[mask]
        owner[y:y + size, x:x + size][mask] = len(instances)
        full_areas.append(int(mask.sum()))
        instances.append(dict(label=int(labels[src]), source=int(src)))
    for i, inst in enumerate(instances):
        inst['mask'] = owner == i
    return canvas, instances


def make_split(split: str, s: SceneSettings, data_root: str = DEFAULT_ROOT) -> List[tuple]:
    """All scenes of one split, each ``(canvas, instances)``; items are not reused in a split."""
    images, labels, index = _source(split, data_root)
    rng = np.random.default_rng([s.seed, SPLITS.index(split)])
    pool = rng.permutation(index)
    scenes, used = [], 0
    for _ in range(dict(s.num_scenes)[split]):
        take = pool[used:used + s.items[1]]
        if len(take) < s.items[1]:
            raise ValueError(f'The {split} split has too few items for {dict(s.num_scenes)} '
                             'scenes; ask for fewer scenes or items.')
        canvas, instances = compose_scene(rng, images, labels, take, s)
        used += s.items[1]
        scenes.append((canvas, instances))
    return scenes


def coco_instances(scenes: List[tuple], split: str) -> dict:
    """COCO instance annotations (RLE masks, boxes tight around the visible mask)."""
    from pycocotools import mask as mask_utils
    images, annotations = [], []
    for image_id, (canvas, instances) in enumerate(scenes, 1):
        images.append(
            dict(
                id=image_id,
                file_name=f'{split}/{image_id - 1:05d}.png',
                height=canvas.shape[0],
                width=canvas.shape[1]))
        for inst in instances:
            rle = mask_utils.encode(np.asfortranarray(inst['mask'].astype(np.uint8)))
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=inst['label'] + 1,
                    bbox=[float(v) for v in mask_utils.toBbox(rle)],
                    area=float(inst['mask'].sum()),
                    iscrowd=0,
                    segmentation=dict(size=rle['size'], counts=rle['counts'].decode())))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    return dict(images=images, annotations=annotations, categories=categories)


def semantic_map(canvas: np.ndarray, instances: List[dict]) -> np.ndarray:
    """Label map: 0 where no item shows, else 1 + the item's Fashion-MNIST label."""
    seg = np.zeros(canvas.shape, np.uint8)
    for inst in instances:
        seg[inst['mask']] = inst['label'] + 1
    return seg


def write_scenes(root: str,
                 settings: Optional[SceneSettings] = None,
                 data_root: str = DEFAULT_ROOT) -> Dict[str, int]:
    """Write the three splits under ``root``; returns the number of instances per split.

    Args:
        root (str): Output folder (created).
        settings (SceneSettings, optional): How to make the scenes. Defaults to the defaults.
        data_root (str): Folder of the Fashion-MNIST IDX files. Defaults to the Debian one.

    Returns:
        dict: Instances per split.
    """
    s = settings or SceneSettings()
    counts, sources = {}, {}
    for split in SPLITS:
        scenes = make_split(split, s, data_root)
        for sub in ('images', 'seg_maps'):
            os.makedirs(osp.join(root, sub, split), exist_ok=True)
        for i, (canvas, instances) in enumerate(scenes):
            Image.fromarray(canvas).save(osp.join(root, 'images', split, f'{i:05d}.png'))
            Image.fromarray(semantic_map(canvas, instances)).save(
                osp.join(root, 'seg_maps', split, f'{i:05d}.png'))
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(coco_instances(scenes, split), f, sort_keys=True)
        counts[split] = sum(len(inst) for _, inst in scenes)
        sources[split] = sorted(i['source'] for _, inst in scenes for i in inst)
    with open(osp.join(root, 'scenes.json'), 'w') as f:
        json.dump(dict(settings=s.as_dict(), instances=counts, sources=sources), f, sort_keys=True)
    return counts


def check_scenes(root: str, settings: Optional[SceneSettings] = None) -> None:
    """Raise a clear error when ``root`` does not hold complete scenes of ``settings``.

    Raises:
        FileNotFoundError: A file is missing.
        ValueError: A file is unreadable, or the folder holds scenes of other settings.
    """
    s = settings or SceneSettings()
    meta = osp.join(root, 'scenes.json')
    if not osp.isfile(meta):
        raise FileNotFoundError(f'{meta} is missing: {root!r} holds no finished scenes. '
                                f'{REGENERATE_HINT}')
    with open(meta) as f:
        stored = json.load(f)['settings']
    if stored != s.as_dict():
        raise ValueError(f'{root!r} holds scenes of other settings ({stored}); expected '
                         f'{s.as_dict()}. {REGENERATE_HINT}')
    for split, num in s.num_scenes:
        ann = osp.join(root, 'annotations', f'instances_{split}.json')
        if not osp.isfile(ann):
            raise FileNotFoundError(f'Annotation file {ann} is missing. {REGENERATE_HINT}')
        try:
            with open(ann) as f:
                coco = json.load(f)
            images = coco['images']
            coco['annotations'], coco['categories']
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f'Annotation file {ann} is not a COCO instance file ({e!r}). '
                             f'{REGENERATE_HINT}') from e
        if len(images) != num:
            raise ValueError(f'{ann} lists {len(images)} images, not {num}. {REGENERATE_HINT}')
        for sub in ('images', 'seg_maps'):
            last = osp.join(root, sub, split, f'{num - 1:05d}.png')
            if not osp.isfile(last):
                raise FileNotFoundError(f'{last} is missing. {REGENERATE_HINT}')
