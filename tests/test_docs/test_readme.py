"""The README's instructions, run for real: its config snippets and command-line options are read
from README.md itself, so that the documentation cannot drift from what works."""
import glob
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from conftest import DEMO_CONFIG, ROOT, mmlogger_warnings_while
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

README = osp.join(ROOT, 'README.md')


def readme_section(title: str) -> str:
    """The text of the README's ``## title`` section (up to the next ``## `` heading)."""
    with open(README, encoding='utf-8') as f:
        text = f.read()
    match = re.search(rf'^## {re.escape(title)}\n(.*?)(?=^## |\Z)', text, re.S | re.M)
    assert match, f'README has no "## {title}" section'
    return match.group(1)


def code_blocks(section: str, lang: str) -> list:
    """The fenced ``lang`` code blocks of a README section."""
    return re.findall(rf'^```{lang}\n(.*?)^```', section, re.S | re.M)


def own_folder_snippet() -> str:
    """The README's config for pretraining on one's own images."""
    blocks = [
        b for b in code_blocks(readme_section('Pretraining'), 'python')
        if 'UnlabeledImageFolder' in b
    ]
    assert len(blocks) == 1, blocks
    return blocks[0]


def write_user_config(snippet: str, base: str, images: str, path: str) -> str:
    """The snippet as a user's config file, inheriting ``base`` and reading ``images``."""
    assert "data_root='path/to/images'" in snippet
    documented = re.search(r"_base_ = \['([^']+)'\]", snippet).group(1)
    # The documented base is relative to configs/, where the README says to put the file.
    assert osp.isfile(osp.join(ROOT, 'configs', documented)), documented
    text = snippet.replace(documented, base).replace('path/to/images', images)
    with open(path, 'w') as f:
        f.write(text)
    return path


def save_mixed_folder(photos_dir: str, root: str) -> dict:
    """A user's photo folder: JPEGs of mixed sizes and modes, a truncated JPEG, a text file named
    ``.jpg`` and a note. Returns the names of the good and the bad files."""
    os.makedirs(root, exist_ok=True)
    sizes = {
        'astronaut': (333, 250),
        'chelsea': (48, 36),
        'coffee': None,
        'camera': (256, 256),
        'rocket': (200, 300),
        'coins': None
    }
    good = []
    for name, size in sizes.items():
        img = Image.open(osp.join(photos_dir, f'{name}.png'))
        if size:
            img = img.resize(size, Image.BICUBIC)
        img.save(osp.join(root, f'{name}.jpg'), quality=90)  # camera and coins stay grayscale
        good.append(f'{name}.jpg')
    with open(osp.join(root, 'astronaut.jpg'), 'rb') as f:
        data = f.read()
    with open(osp.join(root, 'truncated.jpg'), 'wb') as f:
        f.write(data[:len(data) // 2])  # a download that stopped half-way
    with open(osp.join(root, 'not_an_image.jpg'), 'w') as f:
        f.write('<html>403 Forbidden</html>')
    with open(osp.join(root, 'notes.txt'), 'w') as f:
        f.write('shot list')
    return dict(good=good, unreadable=['truncated.jpg', 'not_an_image.jpg'], other=['notes.txt'])


PRETRAIN_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'hssl', '**', '*.py'), recursive=True))


@pytest.fixture(scope='module')
def mixed_folder(photos_dir, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('own') / 'my_photos')
    return root, save_mixed_folder(photos_dir, root)


@pytest.mark.parametrize('base', PRETRAIN_CONFIGS, ids=osp.basename)
def test_own_folder_snippet_builds_the_training_dataloader(base, mixed_folder, tmp_path):
    folder, files = mixed_folder
    cfg = Config.fromfile(
        write_user_config(own_folder_snippet(), base, folder, str(tmp_path / 'my_images.py')))
    loader_cfg = cfg.train_dataloader
    # The per-sample seeding stays: the sampler and its wrapper are the base config's.
    base_loader = Config.fromfile(base).train_dataloader
    assert loader_cfg.sampler == base_loader.sampler
    assert loader_cfg.dataset.type == base_loader.dataset.type
    assert loader_cfg.dataset.dataset.type == 'UnlabeledImageFolder'
    loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)

    def one_epoch():
        loader = Runner.build_dataloader(loader_cfg.to_dict(), seed=0)
        return loader, list(loader)

    (loader, batches), warnings = mmlogger_warnings_while(one_epoch)
    assert len(loader.dataset) == len(files['good']) + len(files['unreadable'])
    used = set()
    for batch in batches:
        views = batch['inputs'] if isinstance(batch['inputs'], list) else [batch['inputs']]
        assert all(v.shape[:2] == (2, 3) and v.dtype == torch.uint8 for v in views)
        used |= {osp.basename(s.img_path) for s in batch['data_samples']}
    assert used <= set(files['good'])  # broken files are replaced by readable ones
    # ...and each of them is named: the unreadable images by the loader, the note by the dataset.
    for name in files['unreadable']:
        assert any('Skipped unreadable image' in w and name in w for w in warnings), name
    assert any('left out 1 file(s)' in w and 'notes.txt' in w for w in warnings)


def test_own_folder_with_broken_files_trains_and_names_them(photos_dir, tmp_path):
    """The README's command line for the demo config on a real, messy folder: 2 iterations."""
    from train import main as train_main
    folder = str(tmp_path / 'my_photos')
    files = save_mixed_folder(photos_dir, folder)
    text = ' '.join(readme_section('Pretraining').split())
    match = re.search(r'`tools/train\.py (\S+) --cfg-options (\S+)`', text)
    assert match, 'README: no command for the demo config on an image folder'
    config, option = match.groups()
    assert osp.join(ROOT, config) == DEMO_CONFIG and option.endswith('=path/to/images')
    work_dir = str(tmp_path / 'work')
    # Shorter: one pass over the 8 image files, 4 per batch, so 2 iterations. The workers, the
    # wrapper and the sampler are the config's.
    train_main([
        DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
        option.replace('path/to/images', folder), 'train_dataloader.dataset.dataset.times=1',
        'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1'
    ])
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        log = f.read()
    assert 'Epoch(train) [1][2/2]' in log
    losses = [float(x) for x in re.findall(r' loss: ([-\d.naif]+)', log)]
    assert len(losses) == 2 and all(np.isfinite(losses)), losses
    # Every bad file is named: the unreadable images by the loader, the note by the dataset.
    skipped = re.findall(r"Skipped unreadable image '([^']+)'.*?(\d+) skipped so far", log)
    assert {osp.basename(p) for p, _ in skipped} == set(files['unreadable']), skipped
    assert all(int(n) >= 1 for _, n in skipped)
    assert re.search(r'left out 1 file\(s\) .*notes\.txt', log)
    assert not any(f"image '{osp.join(folder, g)}'" in log for g in files['good'])
    # Only warnings that ask for action: none per teacher parameter.
    assert 'requires_grad=False' not in log


def test_transfer_table_is_the_generated_one():
    """The README's transfer table is what tools/benchmarks/transfer.py makes from the committed
    results (regenerate with ``--render-only --readme README.md``)."""
    import json

    from benchmarks.transfer import README_END, README_START, readme_block
    with open(osp.join(ROOT, 'docs/results/transfer.json')) as f:
        report = json.load(f)
    with open(README, encoding='utf-8') as f:
        text = f.read()
    shown = text[text.index(README_START):text.index(README_END) + len(README_END)]
    assert shown == readme_block(report)


def test_use_a_zoo_model_section_runs(tmp_path, monkeypatch):
    """The README's three calls, as written, on a Fashion-MNIST test image saved as a PNG file."""
    from fashion_mnist_utils import fmnist_root
    from mmpretrain.apis import FeatureExtractor

    from mmhssl.datasets import LocalFashionMNIST
    blocks = code_blocks(readme_section('Use a zoo model'), 'python')
    assert len(blocks) == 1, blocks
    image = LocalFashionMNIST(fmnist_root(), split='test', channels=1).get_data_info(0)['img']
    png = str(tmp_path / 'image.png')
    Image.fromarray(np.asarray(image)).save(png)
    assert "'path/to/image.png'" in blocks[0]
    monkeypatch.setenv('MMHSSL_OFFLINE', '1')  # the weights ship with the package
    monkeypatch.chdir(ROOT)  # as the README says, mmpretrain's pretrained=True runs in the checkout
    scope = {}
    exec(blocks[0].replace('path/to/image.png', png), scope)
    assert scope['features'].shape == (64, )
    ours, theirs = scope['model'].state_dict(), scope['same'].state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    again = FeatureExtractor(scope['model'], device='cpu')(png)[0][0]
    torch.testing.assert_close(scope['features'], again)
