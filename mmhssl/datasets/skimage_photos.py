"""The real photos bundled with scikit-image, written to an image folder (no download)."""
import os
import os.path as osp
from typing import List

import numpy as np

# Photographs shipped inside the scikit-image wheel (colour and grayscale); nothing is downloaded.
PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry',
          'retina', 'camera', 'moon', 'brick', 'grass', 'gravel', 'coins', 'cell', 'clock')


def write_photos(out: str) -> List[str]:
    """Save the bundled photos as PNG files in ``out`` (once) and return their paths.

    Args:
        out (str): The folder.

    Returns:
        list[str]: The PNG files, in a fixed order.
    """
    from PIL import Image
    try:
        from skimage import data
    except ImportError as e:
        raise ImportError('The demo photos come with scikit-image, which is not installed: pip '
                          'install "mmhssl[demo]" (make demo installs it).') from e
    os.makedirs(out, exist_ok=True)
    images = {name: getattr(data, name)() for name in PHOTOS}
    left, right, _ = data.stereo_motorcycle()
    images.update(motorcycle_left=left, motorcycle_right=right)
    paths = []
    for name, img in images.items():
        path = osp.join(out, f'{name}.png')
        if not osp.isfile(path):
            Image.fromarray(np.asarray(img, dtype=np.uint8)).save(path + '.tmp.png')
            os.replace(path + '.tmp.png', path)
        paths.append(path)
    return paths
