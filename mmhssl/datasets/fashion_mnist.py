"""Fashion-MNIST read from its local IDX files (never downloaded)."""
import gzip
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmpretrain.datasets.categories import FASHIONMNIST_CATEGORITES
from mmpretrain.registry import DATASETS

# Where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs the files.
DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist'
INSTALL_HINT = ('Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or '
                'point data_root at a folder holding the four Fashion-MNIST IDX files.')
SPLIT_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}
# IDX magic numbers: two zero bytes, type code 0x08 (unsigned byte), number of dimensions.
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801


def find_idx_file(data_root: str, name: str) -> str:
    """Path of ``name.gz`` or ``name`` in ``data_root``; a clear error when neither exists."""
    for candidate in (osp.join(data_root, name + '.gz'), osp.join(data_root, name)):
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(f'Fashion-MNIST file {name}.gz (or {name}) not found in '
                            f'{data_root!r}. {INSTALL_HINT}')


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed when the name ends in ``.gz``).

    Args:
        path (str): The file.

    Returns:
        np.ndarray: ``uint8`` array with the shape stored in the header.

    Raises:
        ValueError: The header is not an unsigned-byte IDX header or the data length does not match
            it (a truncated or wrong file).
    """
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip raises these for corrupt or truncated archives
        raise ValueError(f'Could not read IDX file {path!r}: {e}. Reinstall the dataset.') from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f'{path!r} is not an IDX file of unsigned bytes (bad magic number).')
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise ValueError(f'IDX file {path!r} declares shape {shape} ({expected} bytes) but holds '
                         f'{len(raw) - header} bytes of data: the file is truncated or corrupt. '
                         'Reinstall the dataset.')
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@DATASETS.register_module()
class LocalFashionMNIST(BaseDataset):
    """Fashion-MNIST (70k real 28×28 grayscale product photos, 10 classes) from local IDX files.

    Unlike mmpretrain's ``FashionMNIST`` it never downloads: it reads the ``.gz`` (or uncompressed)
    IDX files where the Debian package ``dataset-fashion-mnist`` puts them, and it can select a
    deterministic subset (some classes, the first ``num_per_class`` images of each class in file
    order). Each item has ``img`` (``uint8``, ``(28, 28, 3)`` with the gray value replicated so
    colour transforms and 3-channel models apply unchanged, or ``(28, 28)`` with ``channels=1``),
    ``gt_label`` and ``file_index`` (the image's position in the IDX file).

    Args:
        data_root (str): Folder of the IDX files. Defaults to the Debian package's folder.
        split (str): ``'train'`` (60k) or ``'test'`` (10k). Defaults to ``'train'``.
        classes (Sequence[int | str], optional): Keep only these classes (indices or names such as
            ``'Trouser'``); labels are renumbered ``0..len(classes)-1`` in the given order.
            Defaults to None (all ten).
        num_per_class (int, optional): Keep the first ``num_per_class`` images of each kept class.
            Defaults to None (all).
        channels (int): 3 or 1. Defaults to 3.
        pipeline (Sequence[dict]): Transforms. Defaults to ().
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=FASHIONMNIST_CATEGORITES)

    def __init__(self,
                 data_root: str = DEFAULT_ROOT,
                 split: str = 'train',
                 classes: Optional[Sequence[Union[int, str]]] = None,
                 num_per_class: Optional[int] = None,
                 channels: int = 3,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        if split not in SPLIT_FILES:
            raise ValueError(f'LocalFashionMNIST: split must be one of {sorted(SPLIT_FILES)}, '
                             f'got {split!r}.')
        if channels not in (1, 3):
            raise ValueError(f'LocalFashionMNIST: channels must be 1 or 3, got {channels}.')
        if num_per_class is not None and num_per_class < 1:
            raise ValueError(f'LocalFashionMNIST: num_per_class must be >= 1, got {num_per_class}.')
        self.split = split
        self.class_ids = self._class_ids(classes)
        self.num_per_class = num_per_class
        self.channels = channels
        metainfo = dict(classes=tuple(FASHIONMNIST_CATEGORITES[i] for i in self.class_ids))
        metainfo.update(kwargs.pop('metainfo', None) or {})
        super().__init__(
            ann_file='', data_root=data_root, pipeline=pipeline, metainfo=metainfo, **kwargs)

    @staticmethod
    def _class_ids(classes) -> List[int]:
        if classes is None:
            return list(range(len(FASHIONMNIST_CATEGORITES)))
        ids = []
        for c in classes:
            if isinstance(c, str):
                if c not in FASHIONMNIST_CATEGORITES:
                    raise ValueError(f'LocalFashionMNIST: unknown class {c!r}; the classes are '
                                     f'{list(FASHIONMNIST_CATEGORITES)}.')
                c = FASHIONMNIST_CATEGORITES.index(c)
            elif not 0 <= int(c) < len(FASHIONMNIST_CATEGORITES):
                raise ValueError(f'LocalFashionMNIST: class index {c} is out of range 0..9.')
            ids.append(int(c))
        if len(set(ids)) != len(ids) or not ids:
            raise ValueError(f'LocalFashionMNIST: classes must be distinct and non-empty, got '
                             f'{list(classes)}.')
        return ids

    def load_images_and_labels(self):
        """The whole split: ``uint8`` images ``(N, 28, 28)`` and labels ``(N,)``."""
        image_name, label_name = SPLIT_FILES[self.split]
        image_path = find_idx_file(self.data_root, image_name)
        label_path = find_idx_file(self.data_root, label_name)
        images, labels = read_idx(image_path), read_idx(label_path)
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(f'LocalFashionMNIST: expected images (N, H, W) and labels (N,), got '
                             f'{images.shape} from {image_path!r} and {labels.shape} from '
                             f'{label_path!r}.')
        if len(images) != len(labels):
            raise ValueError(f'LocalFashionMNIST: {image_path!r} holds {len(images)} images but '
                             f'{label_path!r} holds {len(labels)} labels; the two files do not '
                             'belong together. Reinstall the dataset.')
        if labels.max(initial=0) >= len(FASHIONMNIST_CATEGORITES):
            raise ValueError(f'LocalFashionMNIST: {label_path!r} has label {labels.max()}, '
                             'outside 0..9.')
        return images, labels

    def load_data_list(self) -> List[dict]:
        images, labels = self.load_images_and_labels()
        data_list = []
        for new_label, class_id in enumerate(self.class_ids):
            idx = np.flatnonzero(labels == class_id)
            if self.num_per_class is not None:
                if len(idx) < self.num_per_class:
                    raise ValueError(
                        f'LocalFashionMNIST: num_per_class={self.num_per_class} but the '
                        f'{self.split} split has only {len(idx)} images of class '
                        f'{FASHIONMNIST_CATEGORITES[class_id]!r}.')
                idx = idx[:self.num_per_class]
            for i in idx:
                data_list.append(dict(file_index=int(i), gt_label=new_label))
        # Keep the file order (already shuffled), not blocks of one class.
        data_list.sort(key=lambda d: d['file_index'])
        for d in data_list:
            img = images[d['file_index']]
            if self.channels == 3:
                img = np.ascontiguousarray(np.repeat(img[..., None], 3, axis=2))
            else:
                img = img.copy()
            d.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return data_list

    def get_gt_labels(self) -> np.ndarray:
        """Labels of all items, in dataset order."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))])
