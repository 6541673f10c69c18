"""Image loading that survives broken files in large datasets."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that skips unreadable images instead of crashing the run.

    Grayscale, RGBA and 16-bit images are converted to 8-bit, 3-channel BGR
    (``color_type='color'``). A file that cannot be read or decoded (corrupt, truncated, not an
    image) is either skipped — the transform returns None and mmengine's dataset draws another
    sample — with a warning and a running count, or raises a clear error with ``on_error='raise'``.

    Args:
        on_error (str): ``'skip'`` (default) or ``'raise'``.
        **kwargs: Arguments of :class:`mmcv.transforms.LoadImageFromFile`.
    """

    skipped = 0  # per process

    def __init__(self, on_error: str = 'skip', **kwargs) -> None:
        if on_error not in ('skip', 'raise'):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}.")
        super().__init__(**kwargs)
        self.on_error = on_error

    def transform(self, results: dict) -> Optional[dict]:
        path = results.get('img_path')
        try:
            out = super().transform(results)
            if out is None:
                raise ValueError('empty file')
            return out
        except Exception as e:  # cv2/PIL raise many types for broken files
            if isinstance(e, AssertionError) and 'failed to load image' in str(e):
                # mmcv's decoders return None for truncated, corrupt or non-image bytes.
                reason = 'cannot be decoded: truncated, corrupt or not an image'
            else:
                reason = f'{type(e).__name__}: {e}'
            if self.on_error == 'raise':
                raise ValueError(f'Cannot read image {path!r} ({reason}). Remove the file, or '
                                 "use SafeLoadImageFromFile(on_error='skip').") from e
            SafeLoadImageFromFile.skipped += 1
            print_log(
                f'Skipped unreadable image {path!r} ({reason}); '
                f'{SafeLoadImageFromFile.skipped} skipped so far in this process. Remove or '
                'replace the file to train on it.',
                logger='current',
                level=30)
            return None
