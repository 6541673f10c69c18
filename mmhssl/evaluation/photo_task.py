"""A held-out task for features learned from a few photos: which photo does a crop come from?

Each photo is cut into a fixed ``GRID x GRID`` grid of non-overlapping tiles, resized to the
training crop size; tiles of one checkerboard colour form the kNN memory, the others the queries,
so memory and queries never share pixels. Labels are used only here, never in training.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook

from ..utils.rng import preserve_rng_state
from .features import extract_features
from .knn import knn_accuracy

# Fixed before any result was seen: a 4 x 4 grid per photo (8 memory and 8 query tiles), the
# teacher's class token, weighted kNN with the DINO defaults (k=20, T=0.07).
GRID = 4
KNN_K = 20
KNN_TEMPERATURE = 0.07


def tile_grid(height: int, width: int, grid: int = GRID) -> List[Tuple[int, int, int, int, bool]]:
    """The non-overlapping tiles of an image and their split.

    Args:
        height (int): Image height in pixels.
        width (int): Image width in pixels.
        grid (int): Tiles per side. Defaults to :data:`GRID`.

    Returns:
        list[tuple]: ``(top, left, tile_height, tile_width, is_memory)`` per tile, row by row;
        ``is_memory`` alternates like a checkerboard, so every query tile has memory neighbours
        in the same photo but shares no pixel with them.

    Raises:
        ValueError: ``grid`` < 2 (no split) or the image has fewer than ``grid`` pixels a side.
    """
    if grid < 2:
        raise ValueError(f'grid must be >= 2 to split tiles into memory and queries, got {grid}.')
    if height < grid or width < grid:
        raise ValueError(f'An image of {height}x{width} pixels cannot be cut into a {grid}x{grid} '
                         'grid of tiles.')
    th, tw = height // grid, width // grid
    return [(r * th, c * tw, th, tw, (r + c) % 2 == 0) for r in range(grid) for c in range(grid)]


class PhotoTiles(torch.utils.data.Dataset):
    """Memory or query tiles of photos, labelled by photo, packed as ``PackInputs`` does.

    Photos are read as training reads them (mmcv, BGR, grayscale expanded to three channels) and
    every tile is resized to ``size`` with the training crops' interpolation, so that the only
    difference to training inputs is the fixed, disjoint cut.

    Args:
        paths (Sequence[str]): Photo files; the label of a tile is the index of its photo.
        size (int): Side of the resized tiles (the global crop size of training).
        split (str): ``'memory'`` or ``'query'``.
        grid (int): Tiles per side. Defaults to :data:`GRID`.
    """

    def __init__(self, paths: Sequence[str], size: int, split: str, grid: int = GRID) -> None:
        import mmcv
        from mmpretrain.structures import DataSample
        if split not in ('memory', 'query'):
            raise ValueError(f"split must be 'memory' or 'query', got {split!r}.")
        if len(paths) < 2:
            raise ValueError(f'The photo task needs at least two photos, got {len(paths)}.')
        self.classes = [osp.splitext(osp.basename(p))[0] for p in paths]
        self.items = []
        for label, path in enumerate(paths):
            img = mmcv.imread(path, 'color')
            if img is None:
                raise OSError(f'Cannot read the photo {path!r}.')
            for top, left, th, tw, is_memory in tile_grid(*img.shape[:2], grid):
                if is_memory != (split == 'memory'):
                    continue
                tile = mmcv.imresize(
                    img[top:top + th, left:left + tw], (size, size),
                    interpolation='bicubic',
                    backend='pillow')
                self.items.append(
                    dict(
                        inputs=torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1))),
                        data_samples=DataSample().set_gt_label(label)))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        return self.items[idx]


def photo_knn(backbone: torch.nn.Module, preprocessor: torch.nn.Module, memory: PhotoTiles,
              queries: PhotoTiles) -> Dict[str, Optional[float]]:
    """Weighted-kNN accuracy of ``backbone``'s class token on the photo task.

    Returns:
        dict: :func:`mmhssl.evaluation.knn_accuracy`'s result plus ``chance`` (percent).
    """
    train = extract_features(backbone, memory, preprocessor, feature='cls', batch_size=64)
    test = extract_features(backbone, queries, preprocessor, feature='cls', batch_size=64)
    result = knn_accuracy(
        *train, *test, num_classes=len(memory.classes), k=KNN_K, temperature=KNN_TEMPERATURE)
    result['chance'] = 100.0 / len(memory.classes)
    return result


class InitialPhotoKNN(Hook):
    """Records the photo-task kNN of the teacher at the start of training (its initial weights)."""

    priority = 'LOWEST'

    def __init__(self, memory: PhotoTiles, queries: PhotoTiles) -> None:
        self.memory, self.queries = memory, queries
        self.result = None

    def before_train(self, runner) -> None:
        from mmpretrain.utils import get_ori_model
        model = get_ori_model(runner.model)
        # Random states are restored, so training is the same with or without this evaluation.
        with preserve_rng_state():
            self.result = photo_knn(model.teacher.backbone, model.data_preprocessor, self.memory,
                                    self.queries)
        runner.logger.info(f'photo kNN before training: top-1 {self.result["top1"]:.1f} %')
