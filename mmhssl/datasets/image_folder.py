"""An unlabeled folder of images for self-supervised pretraining."""
import os
import os.path as osp
from typing import List, Sequence

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """Every image file under ``data_root`` (recursively), without labels.

    Files with other extensions are an error by default, because a folder that mixes in other files
    is usually a wrong path; set ``ignore_other_files=True`` to skip them.

    Args:
        data_root (str): The image folder.
        pipeline (Sequence[dict]): Transforms.
        extensions (Sequence[str]): Accepted (lower-case) extensions. Defaults to common formats.
        ignore_other_files (bool): Skip non-image files instead of raising. Defaults to False.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=None)

    def __init__(self, data_root: str, pipeline: Sequence = (),
                 extensions: Sequence[str] = IMAGE_EXTENSIONS, ignore_other_files: bool = False,
                 **kwargs) -> None:
        self.extensions = tuple(e.lower() for e in extensions)
        self.ignore_other_files = ignore_other_files
        super().__init__(ann_file='', data_root=data_root, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'UnlabeledImageFolder: data_root {root!r} is not a directory. '
                                    'Point train_dataloader.dataset.data_root at your image folder.')
        images, others = [], []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith('.'):
                    continue
                path = osp.join(dirpath, name)
                (images if name.lower().endswith(self.extensions) else others).append(path)
        if others and not self.ignore_other_files:
            shown = ', '.join(osp.relpath(p, root) for p in others[:5])
            raise ValueError(
                f'UnlabeledImageFolder: {len(others)} file(s) in {root!r} are not images '
                f'({shown}{", ..." if len(others) > 5 else ""}). Remove them, or set '
                'ignore_other_files=True to skip them.')
        if not images:
            raise ValueError(f'UnlabeledImageFolder: no images ({", ".join(self.extensions)}) '
                             f'found in {root!r}.')
        return [dict(img_path=p) for p in images]
