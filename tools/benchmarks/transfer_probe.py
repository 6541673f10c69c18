"""Why do the zoo weights not help on the scene tasks? Probes of the backbone alone.

``python tools/benchmarks/transfer_probe.py [--probes items frozen] [--rows ...]``

Two probes, each row (random init, iBOT, HSSL-iBOT) as in tools/benchmarks/transfer.py:

* ``items``: weighted kNN top-1 (k = 20) of Fashion-MNIST items by their feature, the mean of the
  last block's patch tokens (after the final norm) over the item's own 7 x 7 patches. The item is
  shown alone at 28 px (the pretraining input), or pasted at 28 px on the scenes' black 64 px
  canvas at the centre or at a random place on the patch grid (as in a scene). Memory: train
  items; queries: test items. No training: what the features carry before any fine-tuning.
* ``frozen``: the UperNet benchmark config with every backbone block frozen, validation mIoU:
  what the neck and decode head learn from each init's features alone (one seed).

Finished probes accumulate in ``OUT.json``; ``OUT.md`` holds the table, command, date, machine and
versions.
"""
import argparse
import copy
import os
import os.path as osp
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from transfer import ROWS, TASKS, build_cfg, config_digest, ensure_scenes, scene_settings

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.apis import fetch_checkpoint
from mmhssl.datasets.fashion_mnist import DEFAULT_ROOT
from mmhssl.datasets.fashion_mnist_scenes import _source
from mmhssl.evaluation import ResultsStore, environment_info
from mmhssl.evaluation.knn import knn_accuracy
from mmhssl.utils import use_safe_checkpoint_loader

PROBES = ('items', 'frozen')
PLACEMENTS = ('alone, 28 px', 'centre of the 64 px canvas', 'random place on the canvas')
ITEM = 28  # Fashion-MNIST's side: the pretraining input, and the size items are pasted at here
CANVAS = 64
PATCH = 4


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--probes', nargs='+', choices=PROBES, default=list(PROBES))
    p.add_argument('--rows', nargs='+', choices=list(ROWS), default=list(ROWS))
    p.add_argument('--num-train', type=int, default=3000, help='items in the kNN memory')
    p.add_argument('--num-test', type=int, default=1000, help='query items')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fmnist-root', default=DEFAULT_ROOT, help='Fashion-MNIST IDX files')
    p.add_argument('--data-root', default='data/fmnist_scenes', help='the scenes (frozen probe)')
    p.add_argument('--work-dir', default='work_dirs/transfer_probe')
    p.add_argument('--out', default='docs/results/transfer_probe')
    p.add_argument('--max-iters', type=int, help='shorten the frozen probe (installs, tests)')
    return p.parse_args(argv)


def place(items: np.ndarray, corners: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Paste each 28 px item, unscaled, on a black canvas with its top-left corner at ``corners``
    (multiples of the patch size, so that the item covers exactly 7 x 7 patches)."""
    out = np.zeros((len(items), CANVAS, CANVAS), dtype=items.dtype)
    for canvas, item, (y, x) in zip(out, items, corners):
        if y % PATCH or x % PATCH or not (0 <= y <= CANVAS - ITEM and 0 <= x <= CANVAS - ITEM):
            raise ValueError(f'corner {(y, x)} must lie on the {PATCH} px grid inside the canvas')
        canvas[y:y + ITEM, x:x + ITEM] = item
    return out


def corners_of(placement: str, num: int, rng: np.random.Generator) -> List[Tuple[int, int]]:
    if placement == PLACEMENTS[1]:
        centre = (CANVAS - ITEM) // 2 // PATCH * PATCH
        return [(centre, centre)] * num
    cells = (CANVAS - ITEM) // PATCH + 1
    return [tuple(int(c) * PATCH for c in rng.integers(0, cells, 2)) for _ in range(num)]


@torch.no_grad()
def item_features(backbone: torch.nn.Module,
                  images: np.ndarray,
                  corners,
                  mean: float,
                  std: float,
                  batch_size: int = 250) -> torch.Tensor:
    """Mean of the last block's patch tokens over each item's patches (all of them when
    ``corners`` is None)."""
    feats = []
    side = ITEM // PATCH
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start:start + batch_size]).float()
        inputs = ((batch - mean) / std)[:, None].expand(-1, 3, -1, -1)
        fmap = backbone(inputs)[-1]  # (B, C, H, W), the last block after the final norm
        if corners is None:
            feats.append(fmap.mean((2, 3)))
            continue
        for f, (y, x) in zip(fmap, corners[start:start + batch_size]):
            feats.append(f[:, y // PATCH:y // PATCH + side, x // PATCH:x // PATCH + side].mean(
                (1, 2))[None])
    return torch.cat(feats)


def backbone_for(row: str, img_size: int, seed: int) -> torch.nn.Module:
    """The segmentation config's backbone at ``img_size`` with the row's weights."""
    cfg = Config.fromfile(TASKS['segmentation'][0]).model.backbone
    cfg = copy.deepcopy(cfg)
    cfg.update(
        img_size=img_size,
        out_indices=(cfg.arch['num_layers'] - 1, ),
        out_type='featmap',
        drop_path_rate=0.)
    cfg.type = 'mmpretrain.' + cfg.type.split('.')[-1]
    # Loaded as the benchmark's configs load it (mmpretrain resizes the position embedding).
    if ROWS[row] is None:
        cfg.pop('init_cfg', None)
    else:
        cfg.init_cfg.checkpoint = fetch_checkpoint(ROWS[row])
    torch.manual_seed(seed)
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    backbone.eval()  # mmpretrain's ViT.train() does not return the module
    return backbone


def items_probe(row: str, args) -> dict:
    rng = np.random.default_rng(args.seed)
    images, labels, index = _source('train', args.fmnist_root)
    train = rng.choice(index, args.num_train, replace=False)
    t_images, t_labels, _ = _source('test', args.fmnist_root)
    test = rng.choice(np.arange(len(t_labels)), args.num_test, replace=False)
    pre = Config.fromfile(TASKS['segmentation'][0]).model.data_preprocessor
    mean, std = float(pre.mean[0]), float(pre.std[0])
    result = {}
    for placement in PLACEMENTS:
        if placement == PLACEMENTS[0]:
            backbone = backbone_for(row, ITEM, args.seed)
            feats = [
                item_features(backbone, x, None, mean, std) for x in (images[train], t_images[test])
            ]
        else:
            backbone = backbone_for(row, CANVAS, args.seed)
            feats = []
            for x in (images[train], t_images[test]):
                corners = corners_of(placement, len(x), rng)
                feats.append(item_features(backbone, place(x, corners), corners, mean, std))
        acc = knn_accuracy(
            feats[0],
            torch.from_numpy(labels[train].astype(np.int64)),
            feats[1],
            torch.from_numpy(t_labels[test].astype(np.int64)),
            num_classes=10)
        result[placement] = acc['top1']
    return result


def frozen_probe(row: str, args) -> dict:
    """The UperNet config as benchmarked, every backbone block frozen; validation metrics."""
    bench_args = argparse.Namespace(work_dir=args.work_dir, data_root=args.data_root, smoke=False)
    cfg = build_cfg('segmentation', row, args.seed, bench_args)
    cfg.work_dir = osp.join(args.work_dir, 'frozen', config_digest('segmentation'),
                            f'{row.lower().replace(" ", "_")}_seed{args.seed}')
    cfg.visualizer.name = f'transfer-probe-{row}'
    # mmpretrain's ViT freezes the patch embedding, position embedding, the first N blocks and,
    # when N is all of them, the final norm.
    cfg.model.backbone.frozen_stages = cfg.model.backbone.arch['num_layers']
    if args.max_iters:
        cfg.train_cfg.update(max_iters=args.max_iters, val_interval=args.max_iters)
        cfg.val_dataloader.dataset.indices = 8
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    minutes = (time.time() - start) / 60
    metrics = runner.val()
    return dict(
        mIoU=float(metrics['mIoU']),
        aAcc=float(metrics['aAcc']),
        train_minutes=minutes,
        iterations=runner.iter)


def setting_of(args) -> dict:
    return dict(
        weights=ROWS,
        items=dict(num_train=args.num_train, num_test=args.num_test, seed=args.seed),
        frozen=dict(
            config=TASKS['segmentation'][0],
            config_sha256=config_digest('segmentation'),
            max_iters=args.max_iters,
            scenes=scene_settings(args).as_dict()))


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    args.smoke = False
    use_safe_checkpoint_loader()
    init_default_scope('mmpretrain')
    if 'frozen' in args.probes:
        ensure_scenes(args.data_root, scene_settings(args))
    store = ResultsStore(args.out + '.json', setting_of(args), args.work_dir)
    for probe in args.probes:
        for row in args.rows:
            key = f'{probe}/{row}'
            if key in store.load()['runs']:
                continue
            print(f'=== {key}', flush=True)
            result = items_probe(row, args) if probe == 'items' else frozen_probe(row, args)
            print(f'{key}: {result}', flush=True)
            store.add(
                key,
                dict(
                    result,
                    probe=probe,
                    row=row,
                    date=time.strftime('%Y-%m-%d'),
                    environment=environment_info()),
                command='python tools/benchmarks/transfer_probe.py')
    report = store.load()
    write_markdown(report, args.out + '.md')
    return report


def write_markdown(report: dict, path: str) -> None:
    runs = report['runs']
    envs = sorted({(r['date'], r['environment']['device'], r['environment']['torch'],
                    r['environment']['mmengine'], r['environment']['mmpretrain'])
                   for r in runs.values()})
    s = report['setting']
    lines = [
        '# Transfer probes: what the backbone alone brings to the scene tasks', '',
        'Command: `python tools/benchmarks/transfer_probe.py` (resumable). Measured: ' +
        '; '.join(f'{d} on {dev} (torch {t}, mmengine {e}, mmpretrain {p})'
                  for d, dev, t, e, p in envs) + '.', ''
    ]
    items = [r for r in runs.values() if r['probe'] == 'items']
    if items:
        lines += [
            '## Item features before fine-tuning (kNN top-1, %)', '',
            f'{s["items"]["num_train"]} train items as memory, {s["items"]["num_test"]} test items '
            'as queries (seed {}); an item\'s feature is the mean of the last block\'s patch '
            'tokens over its own 7 x 7 patches.'.format(s['items']['seed']), '',
            '| Init | ' + ' | '.join(PLACEMENTS) + ' |', '|---' * (len(PLACEMENTS) + 1) + '|'
        ]
        for row in ROWS:
            r = runs.get(f'items/{row}')
            if r:
                lines.append(f'| {row} | ' + ' | '.join(f'{r[p]:.1f}' for p in PLACEMENTS) + ' |')
        lines.append('')
    frozen = [r for r in runs.values() if r['probe'] == 'frozen']
    if frozen:
        lines += [
            '## UperNet on a frozen backbone (validation scenes)', '',
            f'`{s["frozen"]["config"]}` (digest {s["frozen"]["config_sha256"]}) with every '
            'backbone block frozen; only the neck and heads learn.', '',
            '| Init | mIoU | aAcc | Iterations | Minutes |', '|---|---|---|---|---|'
        ]
        for row in ROWS:
            r = runs.get(f'frozen/{row}')
            if r:
                lines.append(f'| {row} | {r["mIoU"]:.2f} | {r["aAcc"]:.2f} | {r["iterations"]} '
                             f'| {r["train_minutes"]:.1f} |')
        lines.append('')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


if __name__ == '__main__':
    main()
