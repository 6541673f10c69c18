import shutil

import pytest
from mmpretrain.registry import DATASETS


def test_lists_every_image(photos_dir, tmp_path):
    sub = tmp_path / 'sub'
    sub.mkdir()
    shutil.copy(f'{photos_dir}/coins.png', tmp_path / 'a.png')
    shutil.copy(f'{photos_dir}/chelsea.png', sub / 'b.PNG')
    ds = DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path)))
    assert sorted(d['img_path'].split('/')[-1] for d in ds) == ['a.png', 'b.PNG']


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='no images'):
        DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path)))


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path / 'nope')))


def test_non_image_file_is_an_error_unless_ignored(photos_dir, tmp_path):
    shutil.copy(f'{photos_dir}/coins.png', tmp_path / 'a.png')
    (tmp_path / 'notes.txt').write_text('not an image')
    with pytest.raises(ValueError, match=r'1 file\(s\).*notes.txt.*ignore_other_files=True'):
        DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path)))
    ds = DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path),
                             ignore_other_files=True))
    assert len(ds) == 1
