import os
import os.path as osp
import shutil

import pytest
from conftest import mmlogger_warnings_while
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


def test_non_image_files_are_left_out_and_named_unless_ignored(photos_dir, tmp_path):
    shutil.copy(f'{photos_dir}/coins.png', tmp_path / 'a.png')
    (tmp_path / 'notes.txt').write_text('not an image')
    ds, warnings = mmlogger_warnings_while(
        lambda: DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path))))
    assert [d['img_path'] for d in ds] == [str(tmp_path / 'a.png')]
    assert len(warnings) == 1
    assert 'left out 1 file(s)' in warnings[0] and 'notes.txt' in warnings[0]
    assert 'ignore_other_files=True' in warnings[0]
    ds, warnings = mmlogger_warnings_while(lambda: DATASETS.build(
        dict(type='UnlabeledImageFolder', data_root=str(tmp_path), ignore_other_files=True)))
    assert len(ds) == 1 and warnings == []


def test_folder_of_only_other_files_is_an_error(tmp_path):
    (tmp_path / 'notes.txt').write_text('not an image')
    with pytest.raises(ValueError, match=r'no images .*only 1 other file'):
        DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path)))


def test_link_cycles_are_entered_once(photos_dir, tmp_path):
    sub = tmp_path / 'sub'
    sub.mkdir()
    shutil.copy(f'{photos_dir}/coins.png', tmp_path / 'a.png')
    shutil.copy(f'{photos_dir}/chelsea.png', sub / 'b.png')
    os.symlink(tmp_path, sub / 'back_to_root')  # a cycle
    os.symlink(sub, tmp_path / 'same_sub')  # the same folder twice
    ds = DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path)))
    assert sorted(osp.basename(d['img_path']) for d in ds) == ['a.png', 'b.png']


def test_a_fifo_named_like_an_image_is_left_out_and_named(photos_dir, tmp_path):
    shutil.copy(f'{photos_dir}/coins.png', tmp_path / 'a.png')
    os.mkfifo(tmp_path / 'x.jpg')  # reading it would block forever
    ds, warnings = mmlogger_warnings_while(
        lambda: DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path))))
    assert [d['img_path'] for d in ds] == [str(tmp_path / 'a.png')]
    assert len(warnings) == 1 and 'x.jpg' in warnings[0]


def test_an_undecodable_file_name_is_named_in_a_loggable_warning(photos_dir, tmp_path):
    shutil.copy(f'{photos_dir}/coins.png', tmp_path / 'a.png')
    with open(os.path.join(os.fsencode(tmp_path), b'notes-\xff.txt'), 'w') as f:
        f.write('not an image')
    ds, warnings = mmlogger_warnings_while(
        lambda: DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path))))
    assert len(ds) == 1 and len(warnings) == 1
    warnings[0].encode('utf-8')  # what a log file or terminal handler does with it
    assert 'notes-\\xff.txt' in warnings[0]
