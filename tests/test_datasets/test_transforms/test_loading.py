"""Broken and unusual image files on the real data path."""
import numpy as np
import pytest
from mmpretrain.registry import DATASETS, TRANSFORMS
from PIL import Image
from skimage import data


def _pipeline(crop=64):
    return [
        dict(type='SafeLoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=crop, backend='pillow'),
        dict(type='PackInputs')
    ]


@pytest.fixture
def odd_images(tmp_path):
    astro = data.astronaut()
    Image.fromarray(data.camera()).save(tmp_path / 'gray.png')  # grayscale
    alpha = np.full(astro.shape[:2], 128, np.uint8)
    Image.fromarray(np.dstack([astro, alpha])).save(tmp_path / 'rgba.png')  # RGBA
    Image.fromarray((data.camera().astype(np.uint16) * 257)).save(tmp_path / 'deep.png')  # 16-bit
    Image.fromarray(astro[:20, :30]).save(tmp_path / 'tiny.png')  # smaller than the crop
    Image.fromarray(astro).save(tmp_path / 'good.jpg')
    blob = (tmp_path / 'good.jpg').read_bytes()
    (tmp_path / 'truncated.jpg').write_bytes(blob[:200])
    (tmp_path / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'garbage' * 50)
    return tmp_path


def test_unusual_images_become_3_channel_8_bit(odd_images):
    load = TRANSFORMS.build(dict(type='SafeLoadImageFromFile'))
    for name in ('gray.png', 'rgba.png', 'deep.png', 'tiny.png'):
        img = load(dict(img_path=str(odd_images / name)))['img']
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8, name
    deep = load(dict(img_path=str(odd_images / 'deep.png')))['img']
    assert deep.max() > 200  # scaled to 8 bits, not clipped to 255 or truncated to 0
    crop = TRANSFORMS.build(dict(type='RandomResizedCrop', scale=64, backend='pillow'))
    out = crop(load(dict(img_path=str(odd_images / 'tiny.png'))))
    assert out['img'].shape == (64, 64, 3)  # smaller than the crop: upsampled


def test_broken_files_are_skipped_and_counted(odd_images, caplog):
    from mmhssl.datasets.transforms import SafeLoadImageFromFile
    before = SafeLoadImageFromFile.skipped
    ds = DATASETS.build(
        dict(type='UnlabeledImageFolder', data_root=str(odd_images), pipeline=_pipeline()))
    names = [ds.get_data_info(i)['img_path'].split('/')[-1] for i in range(len(ds))]
    assert {'truncated.jpg', 'corrupt.png'} <= set(names)
    for i, name in enumerate(names):
        out = ds[i]  # a broken file yields another, readable sample
        assert tuple(out['inputs'].shape) == (3, 64, 64), name
    assert SafeLoadImageFromFile.skipped - before >= 2


def test_broken_file_can_fail_loudly(odd_images):
    load = TRANSFORMS.build(dict(type='SafeLoadImageFromFile', on_error='raise'))
    with pytest.raises(ValueError, match="Cannot read image .*corrupt.png.*on_error='skip'"):
        load(dict(img_path=str(odd_images / 'corrupt.png')))
