"""Write the real photos bundled with scikit-image to an image folder (no download).

``python tools/prepare_demo_data.py [--out data/skimage_photos]``
"""
import argparse

from mmhssl.datasets.skimage_photos import write_photos


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/skimage_photos')
    args = parser.parse_args(argv)
    paths = write_photos(args.out)
    print(f'{len(paths)} photos in {args.out}')


if __name__ == '__main__':
    main()
