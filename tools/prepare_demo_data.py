"""Write the real photos bundled with scikit-image to an image folder (no download).

``python tools/prepare_demo_data.py [--out data/skimage_photos]``
"""
import argparse
import os
import os.path as osp

import numpy as np

# Photographs shipped inside the scikit-image wheel (colour and grayscale); nothing is downloaded.
PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry',
          'retina', 'camera', 'moon', 'brick', 'grass', 'gravel', 'coins', 'cell', 'clock')


def write_photos(out: str) -> list:
    """Save the bundled photos as PNG files in ``out`` and return their paths."""
    from PIL import Image
    from skimage import data
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/skimage_photos')
    args = parser.parse_args(argv)
    paths = write_photos(args.out)
    print(f'{len(paths)} photos in {args.out}')


if __name__ == '__main__':
    main()
