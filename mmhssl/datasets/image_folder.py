"""An unlabeled folder of images for self-supervised pretraining."""
import logging
import os
import os.path as osp
from typing import Iterator, List, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """Every image file under ``data_root`` (recursively), without labels.

    Files with other extensions (notes, thumbnails databases, ...) are left out with one warning
    that names them, so that a real photo folder trains as it is; ``ignore_other_files=True`` leaves
    them out silently. Image files that turn out to be unreadable are left to the loading
    transform (:class:`~mmhssl.datasets.transforms.SafeLoadImageFromFile` skips, counts and names
    them). A missing folder, or one without any image, is an error.

    Args:
        data_root (str): The image folder.
        pipeline (Sequence[dict]): Transforms.
        extensions (Sequence[str]): Accepted (lower-case) extensions. Defaults to common formats.
        ignore_other_files (bool): Leave non-image files out without the warning. Defaults to
            False.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=None)

    def __init__(self,
                 data_root: str,
                 pipeline: Sequence = (),
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 ignore_other_files: bool = False,
                 **kwargs) -> None:
        self.extensions = tuple(e.lower() for e in extensions)
        self.ignore_other_files = ignore_other_files
        super().__init__(ann_file='', data_root=data_root, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'UnlabeledImageFolder: data_root {root!r} is not a directory. '
                                    "Point the dataset's data_root at your image folder.")
        images, others = [], []
        for dirpath, filenames in _walk(root):
            for name in filenames:
                if name.startswith('.'):
                    continue
                path = osp.join(dirpath, name)
                # isfile: FIFOs, sockets and dangling links are left out (reading a FIFO blocks).
                is_image = name.lower().endswith(self.extensions) and osp.isfile(path)
                (images if is_image else others).append(path)
        if not images:
            found = f' (only {len(others)} other file(s))' if others else ''
            raise ValueError(f'UnlabeledImageFolder: no images ({", ".join(self.extensions)}) '
                             f'found in {root!r}{found}. Point data_root at your image folder.')
        if others and not self.ignore_other_files:
            shown = ', '.join(_printable(osp.relpath(p, root)) for p in others[:10])
            print_log(
                f'UnlabeledImageFolder: left out {len(others)} file(s) in {root!r} that are not '
                f'image files ({shown}{", ..." if len(others) > 10 else ""}); training uses the '
                f'{len(images)} image files. Remove them, or set ignore_other_files=True to leave '
                'them out silently.',
                logger='current',
                level=logging.WARNING)
        return [dict(img_path=p) for p in images]


def _walk(root: str) -> Iterator[Tuple[str, List[str]]]:
    """``os.walk`` following links, sorted, and entering each real folder once.

    A link back up the tree would otherwise be followed until the path grows too long, repeating
    every image many times; a folder reached through two links counts once.
    """
    seen = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        stat = os.stat(dirpath)
        if (stat.st_dev, stat.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirnames.sort()
        yield dirpath, sorted(filenames)


def _printable(path: str) -> str:
    """``path`` with undecodable bytes of its name escaped, so that logging it cannot fail."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')
