"""The demo: HSSL-iBOT pretraining on the photos bundled with scikit-image, measured and exported.

``python tools/demo.py [--work-dir work_dirs/demo] [--data data/skimage_photos] [--epochs N]
[--smoke] [--cfg-options KEY=VALUE ...]``

Writes the photos to ``data/skimage_photos``, trains the demo config on the CPU, exports the teacher
backbone for downstream configs and shows what was learned:

* the teacher's weighted-kNN accuracy on a held-out task, *which photo does a crop come from*,
  before training (the initial weights, same seed) and after. Each photo is cut into a fixed
  ``GRID x GRID`` grid of non-overlapping tiles, resized to the training crop size; tiles of one
  checkerboard colour form the memory bank, the others the queries, so memory and queries never
  share pixels. Labels are used only here, never in training;
* the training losses (the demo config keeps the teacher temperature constant, so a falling loss
  means learning);
* ``summary.png``: loss curves, kNN before/after and a PCA of the teacher's patch features
  (first three components as RGB) on two photos.

``--smoke`` is a one-minute check of the whole path (two passes over the photos in batches of 8,
64 px global and two 32 px local views, two base blocks); its numbers show that the demo runs, not
that it learns.
"""
import argparse
import glob
import json
import os.path as osp
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np

import mmhssl  # noqa: F401  (registers the modules)
from mmhssl.apis import export_backbone
from mmhssl.datasets.skimage_photos import write_photos
from mmhssl.engine import leave_out_schedulers_after_training
from mmhssl.evaluation import load_backbone
from mmhssl.evaluation.patch_pca import patch_pca
from mmhssl.evaluation.photo_task import GRID, InitialPhotoKNN, PhotoTiles, photo_knn
from mmhssl.utils import command_line_tool

CONFIG = 'configs/hssl/hssl-ibot_vit-tiny-p16_aux-convnext2_1xb32-8e_skimage-demo.py'
PCA_PHOTOS = ('astronaut', 'chelsea')
LOSS_KEYS = ('loss', 'loss_cls_base', 'loss_cls_aux', 'loss_mim')


def read_losses(work_dir: str) -> List[dict]:
    """The logged training losses of the latest run in ``work_dir`` (mmengine's scalars.json)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        return []
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if '"loss"' in line]


def plot_summary(path: str, losses: Sequence[dict], before: dict, after: dict,
                 pca: Sequence[Tuple[np.ndarray, np.ndarray]], names: Sequence[str],
                 teacher_temp: Optional[float]) -> str:
    """Draw the loss curves, the kNN accuracies and the PCA images into one PNG.

    Returns:
        str: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')  # files only, no display needed
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(14, 7.5))
    grid = fig.add_gridspec(2, 2 * len(pca), height_ratios=(1, 1.1))
    ax = fig.add_subplot(grid[0, :len(pca)])
    for key in LOSS_KEYS:
        pts = [(r['iter'], r[key]) for r in losses if key in r]
        if pts:
            ax.plot(*zip(*pts), marker='.', label=key)
    temp = f' (teacher temperature fixed at {teacher_temp:g})' if teacher_temp else ''
    ax.set(title=f'Training losses{temp}', xlabel='iteration', ylabel='loss')
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[0, len(pca):])
    values = [before['top1'], after['top1']]
    bars = ax.bar(['before training\n(initial weights)', 'after training'],
                  values,
                  color=['#999999', '#1f77b4'])
    ax.bar_label(bars, fmt='%.1f %%')
    ax.axhline(
        before['chance'], color='k', ls='--', lw=1, label=f'chance ({before["chance"]:.1f} %)')
    ax.set(
        ylim=(0, 100),
        ylabel='top-1 accuracy (%)',
        title=f'Teacher kNN: which photo is a crop from? ({after["num_test"]} held-out tiles)')
    ax.legend(fontsize=8)
    for i, ((photo, comps), name) in enumerate(zip(pca, names)):
        for j, (img, title) in enumerate(((photo, name), (comps, f'{name}: patch-feature PCA'))):
            ax = fig.add_subplot(grid[1, 2 * i + j])
            ax.imshow(img, interpolation='nearest')
            ax.set_title(title, fontsize=9)
            ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def smoke_config(cfg) -> None:
    """Shrink the demo config in place for a quick end-to-end check (see the module docstring).

    Raises:
        KeyError: The config makes its views elsewhere than in ``BatchMultiCropPreprocessor``.
    """
    views = cfg.get('data_preprocessor', {})
    if views.get('type') != 'BatchMultiCropPreprocessor':
        raise KeyError('--smoke expects the views to be made by a BatchMultiCropPreprocessor.')
    views.update(global_size=64, local_size=32, num_local_crops=2)
    cfg.model.backbone.img_size = views.global_size
    cfg.model.backbone.arch.num_layers = 2
    cfg.model.neck.base_depth = 2
    cfg.train_dataloader.dataset.dataset.times = 2
    cfg.train_dataloader.batch_size = 8
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.logger.interval = 1  # a few iterations only: log every one


def parse_args(argv=None) -> argparse.Namespace:
    """The demo's command line (see the module docstring); rejects ``--epochs`` below 1."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='HSSL-iBOT demo on bundled photos.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/skimage_photos')
    parser.add_argument('--epochs', type=int, default=None, help='override the number of epochs')
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='one-minute end-to-end check: 1 epoch, 64/32 px crops, 2 blocks')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='override config settings, key=value pairs')
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f'--epochs must be >= 1, got {args.epochs}.')
    return args


@command_line_tool()
def main(argv=None) -> dict:
    """Run the demo; returns the summary that is also written to ``<work-dir>/summary.json``."""
    args = parse_args(argv)
    start = time.time()
    from mmengine.config import Config
    from mmengine.runner import Runner

    photos = write_photos(args.data)
    print(f'[demo] {len(photos)} real photos in {args.data}')
    cfg = Config.fromfile(CONFIG)
    cfg.train_dataloader.dataset.dataset.dataset.data_root = args.data
    if args.smoke:
        smoke_config(cfg)
        cfg.train_cfg.max_epochs = 1
    if args.epochs:
        cfg.train_cfg.max_epochs = args.epochs
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    leave_out_schedulers_after_training(cfg)  # as tools/train.py: --epochs may end a warm-up

    size = cfg.model.backbone.img_size
    memory, queries = PhotoTiles(photos, size, 'memory'), PhotoTiles(photos, size, 'query')
    initial = InitialPhotoKNN(memory, queries)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(initial)
    train_start = time.time()
    runner.train()
    train_minutes = (time.time() - train_start) / 60

    ckpt = osp.join(args.work_dir, f'epoch_{runner.max_epochs}.pth')
    exported, _ = export_backbone(ckpt, osp.join(args.work_dir, 'backbone_teacher.pth'))

    # "After" is measured on the exported file, i.e. exactly what a downstream user receives.
    teacher = load_backbone(cfg.model.backbone, exported)
    preprocessor = runner.model.data_preprocessor
    after = photo_knn(teacher, preprocessor, memory, queries)
    before = initial.result
    by_name = {osp.splitext(osp.basename(p))[0]: p for p in photos}
    names = [n for n in PCA_PHOTOS if n in by_name] or list(by_name)[:2]
    pca = patch_pca(teacher, preprocessor, [by_name[n] for n in names], 2 * size)
    losses = read_losses(args.work_dir)
    temps = {r.get('teacher_temp') for r in losses}
    figure = plot_summary(
        osp.join(args.work_dir, 'summary.png'), losses, before, after, pca, names,
        temps.pop() if len(temps) == 1 else None)

    summary = dict(
        config=CONFIG,
        epochs=runner.max_epochs,
        iterations=runner.iter,
        train_minutes=train_minutes,
        total_minutes=(time.time() - start) / 60,
        knn_before=before,
        knn_after=after,
        photos=len(photos),
        grid=GRID,
        losses_first=losses[0] if losses else None,
        losses_last=losses[-1] if losses else None,
        figure=figure,
        checkpoint=ckpt,
        exported=exported)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)

    print('\n[demo] summary')
    print(f'  config            {CONFIG}{" (--smoke)" if args.smoke else ""}')
    print(f'  training time     {train_minutes:.1f} min, {runner.max_epochs} epochs, '
          f'{runner.iter} iterations (whole demo {summary["total_minutes"]:.1f} min)')
    print(f'  photo kNN top-1   before {before["top1"]:.1f} % -> after {after["top1"]:.1f} % '
          f'(teacher, which of {len(photos)} photos a held-out tile comes from; '
          f'{len(memory)} memory / {len(queries)} query tiles, chance {before["chance"]:.1f} %)')
    if losses:
        first, last = losses[0], losses[-1]
        for key in LOSS_KEYS:
            if key in first:
                print(f'  {key:<17} {first[key]:.4f} (iter {first["iter"]}) -> {last[key]:.4f} '
                      f'(iter {last["iter"]})')
    print(f'  figure            {figure}')
    print(f'  checkpoint        {ckpt}')
    print(f'  exported backbone {exported}')
    print('  use it downstream with init_cfg=dict(type="Pretrained", checkpoint="<exported>", '
          'prefix="backbone.")')
    return summary


if __name__ == '__main__':
    main()
