"""Fashion-MNIST benchmark: HSSL-iBOT against plain iBOT at the same budget, and raw pixels.

``python tools/benchmarks/fashion_mnist.py [--epochs 100] [--seeds 0 1] [--num-per-class N]
[--test-num-per-class N] [--batch-size 64] [--work-dir work_dirs/fashion_mnist]
[--out docs/results/fashion_mnist]``

Each (method, seed) run pretrains its config for ``--epochs`` on the first ``--num-per-class``
training images of every class (all 6,000 by default), logging the teacher's kNN accuracy every
epoch; then the teacher's base model is evaluated with weighted kNN (k=20, T=0.07) and a linear
probe on the same training subset against the test split. Raw-pixel kNN and linear probe on the
same split are the baseline. Both methods of one seed share the seed, so data order, augmentations
and masks are the same. Writes ``OUT.json``, ``OUT.md`` (table, command, date, versions) and
``OUT.png`` (online kNN accuracy over training). Needs the Debian package dataset-fashion-mnist.
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import sys
import time

import mmhssl  # noqa: F401  (registers modules and the safe checkpoint loader)
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS

from mmhssl.engine.hooks import OnlineKNNHook
from mmhssl.evaluation import (environment_info, features_from_config, knn_accuracy,
                               linear_probe, pixel_features, write_json)

CONFIG_DIR = 'configs/benchmarks/fashion_mnist'
METHODS = {
    'HSSL-iBOT': f'{CONFIG_DIR}/hssl-ibot_vit-mini-p4_aux-convnext2_1xb64-100e_fashion-mnist.py',
    'iBOT': f'{CONFIG_DIR}/ibot_vit-mini-p4_1xb64-100e_fashion-mnist.py',
}
KNN_K, KNN_T = 20, 0.07


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS))
    parser.add_argument('--epochs', type=int, default=100)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--num-per-class', type=int, default=None,
                        help='training images per class for pretraining and the kNN/linear '
                        'memory (default: all 6,000)')
    parser.add_argument('--test-num-per-class', type=int, default=None,
                        help='test images per class (default: all 1,000)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--data-root', help='folder of the IDX files (default: the Debian one)')
    parser.add_argument('--online-num-per-class', type=int, nargs=2, metavar=('TRAIN', 'TEST'),
                        help='images per class of the online kNN subsets (default: the config\'s '
                        '200 and 100)')
    parser.add_argument('--linear-epochs', type=int, default=50)
    parser.add_argument('--work-dir', default='work_dirs/fashion_mnist')
    parser.add_argument('--out', default='docs/results/fashion_mnist',
                        help='output stem: writes OUT.json, OUT.md and OUT.png')
    parser.add_argument('--render-only', action='store_true',
                        help='only rewrite OUT.md and OUT.png from an existing OUT.json')
    return parser.parse_args(argv)


def set_epochs(cfg: Config, epochs: int) -> int:
    """Rescale the warm-up + cosine schedules of the benchmark configs to ``epochs``."""
    warmup = max(1, round(0.1 * epochs)) if epochs > 1 else 0
    cfg.train_cfg.max_epochs = epochs
    types = [s['type'] for s in cfg.param_scheduler]
    if types != ['LinearLR', 'CosineAnnealingLR', 'CosineAnnealingWeightDecay']:
        raise ValueError(f'Unexpected param_scheduler {types}; set_epochs knows the benchmark '
                         'configs\' warm-up + cosine schedule only.')
    lin, cos, wd = cfg.param_scheduler
    lin.update(end=max(warmup, 1))
    cos.update(begin=warmup, end=epochs, T_max=max(epochs - warmup, 1))
    wd.update(end=epochs, T_max=epochs)
    if warmup == 0:
        cfg.param_scheduler = [cos, wd]
    for hook in cfg.custom_hooks:
        if hook['type'] == 'HSSLScheduleHook':
            hook['warmup_epochs'] = max(warmup, 1)
    cfg.default_hooks.checkpoint.interval = epochs
    return warmup


def _set_data_root(obj, root: str) -> None:
    if isinstance(obj, dict):
        if obj.get('type') == 'LocalFashionMNIST':
            obj['data_root'] = root
        for v in obj.values():
            _set_data_root(v, root)
    elif isinstance(obj, list):
        for v in obj:
            _set_data_root(v, root)


def build_cfg(method: str, seed: int, args) -> Config:
    cfg = Config.fromfile(METHODS[method])
    slug = method.lower().replace('-', '_')
    cfg.work_dir = osp.join(args.work_dir, f'{slug}_e{args.epochs}_seed{seed}')
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    loader = cfg.train_dataloader
    loader.batch_size = args.batch_size
    loader.num_workers = args.num_workers
    loader.persistent_workers = args.num_workers > 0
    loader.dataset.num_per_class = args.num_per_class
    cfg.eval_dataloaders.train.dataset.num_per_class = args.num_per_class
    cfg.eval_dataloaders.test.dataset.num_per_class = args.test_num_per_class
    set_epochs(cfg, args.epochs)
    if args.online_num_per_class:
        hook = next(h for h in cfg.custom_hooks if h['type'] == 'OnlineKNNHook')
        hook['train_dataset']['num_per_class'], hook['test_dataset']['num_per_class'] = (
            args.online_num_per_class)
    if args.data_root:
        for key in ('train_dataloader', 'eval_dataloaders', 'custom_hooks'):
            _set_data_root(cfg[key], args.data_root)
    return cfg


def evaluate_features(train, test, args) -> dict:
    (xtr, ytr), (xte, yte) = train, test
    return dict(knn=knn_accuracy(xtr, ytr, xte, yte, 10, KNN_K, KNN_T),
                linear=linear_probe(xtr, ytr, xte, yte, 10, epochs=args.linear_epochs))


def pixels_of(dataset_cfg: dict):
    dataset = DATASETS.build(dict(copy.deepcopy(dataset_cfg), pipeline=[]))
    images = torch.stack([torch.from_numpy(dataset.get_data_info(i)['img'][..., 0])
                          for i in range(len(dataset))])
    return pixel_features(images), torch.from_numpy(dataset.get_gt_labels())


def raw_pixels(cfg: Config, args) -> dict:
    """Raw-pixel kNN and linear probe on the benchmark split, and kNN on the online subsets."""
    result = evaluate_features(pixels_of(cfg.eval_dataloaders.train.dataset),
                               pixels_of(cfg.eval_dataloaders.test.dataset), args)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'OnlineKNNHook')
    (xtr, ytr), (xte, yte) = pixels_of(hook['train_dataset']), pixels_of(hook['test_dataset'])
    result['online_subset_knn'] = knn_accuracy(xtr, ytr, xte, yte, 10, hook['k'],
                                               hook['temperature'])
    return result


def run_one(method: str, seed: int, args) -> dict:
    cfg = build_cfg(method, seed, args)
    print(f'\n=== {method}, seed {seed}: {args.epochs} epochs in {cfg.work_dir}', flush=True)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    start = time.time()
    runner.train()
    minutes = (time.time() - start) / 60
    iters_per_epoch = len(runner.train_dataloader)
    hook = next(h for h in runner.hooks if isinstance(h, OnlineKNNHook))
    curve = [[step / iters_per_epoch, top1] for step, top1 in hook.history]
    losses = runner.message_hub.get_scalar('train/loss')
    last_epoch_loss = float(losses.mean(iters_per_epoch))
    ckpt = osp.join(cfg.work_dir, f'epoch_{args.epochs}.pth')
    feats = features_from_config(cfg, ckpt, part='teacher', feature='cls')
    result = evaluate_features(feats['train'], feats['test'], args)
    result.update(method=method, seed=seed, train_minutes=minutes, iterations=runner.iter,
                  last_epoch_loss=last_epoch_loss, online_knn=curve, checkpoint=ckpt,
                  feature_dim=int(feats['train'][0].shape[1]))
    return result


def _fmt(x, digits=2):
    return 'n/a' if x is None else f'{x:.{digits}f}'


def _mean_std(values):
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def summary_lines(report: dict) -> list:
    runs, raw = report['runs'], report['raw_pixels']
    lines = []
    by = {m: [r for r in runs if r['method'] == m] for m in report['setting']['methods']}
    for metric, key in (('kNN top-1', 'knn'), ('linear top-1', 'linear')):
        parts = [f'{m} {_mean_std([r[key]["top1"] for r in rs])}' for m, rs in by.items() if rs]
        lines.append(f'- {metric}: ' + ', '.join(parts) + f'; raw pixels {raw[key]["top1"]:.2f}.')
    if all(by.get(m) for m in ('HSSL-iBOT', 'iBOT')):
        seeds = [r['seed'] for r in by['HSSL-iBOT']]
        pairs = {r['seed']: r for r in by['iBOT']}
        for metric, key in (('kNN', 'knn'), ('linear', 'linear')):
            diffs = [r[key]['top1'] - pairs[r['seed']][key]['top1'] for r in by['HSSL-iBOT']
                     if r['seed'] in pairs]
            if diffs:
                lines.append(f'- HSSL-iBOT minus iBOT, {metric} top-1, per seed {seeds}: '
                             + ', '.join(f'{d:+.2f}' for d in diffs)
                             + f' (mean {statistics.mean(diffs):+.2f}).')
        spread = max((abs(a['knn']['top1'] - b['knn']['top1']) for m in by.values()
                      for a in m for b in m), default=0.0)
        mean_diff = statistics.mean(r['knn']['top1'] - pairs[r['seed']]['knn']['top1']
                                    for r in by['HSSL-iBOT'] if r['seed'] in pairs)
        if len(seeds) > 1:
            where = 'within' if abs(mean_diff) <= spread else 'larger than'
            lines.append(f'- The mean kNN difference ({mean_diff:+.2f}) is {where} the '
                         f'seed-to-seed spread of one method ({spread:.2f}).')
    start = [r['online_knn'][0][1] for r in runs]
    end = [r['online_knn'][-1][1] for r in runs]
    lines.append(f'- Online kNN top-1 went from {min(start):.1f}-{max(start):.1f} at '
                 f'initialisation to {min(end):.1f}-{max(end):.1f} after {runs[0]["iterations"]} '
                 'iterations.')
    best = max(runs, key=lambda r: r['knn']['top1'])
    verdict = 'above' if best['knn']['top1'] > raw['knn']['top1'] else 'not above'
    lines.append(f'- The best SSL kNN top-1 ({best["method"]}, seed {best["seed"]}: '
                 f'{best["knn"]["top1"]:.2f}) is {verdict} raw-pixel kNN '
                 f'({raw["knn"]["top1"]:.2f}) at this budget.')
    return lines


def write_markdown(report: dict, path: str) -> None:
    s, env = report['setting'], report['environment']
    rows = [('Raw pixels', '-', report['raw_pixels'], None)]
    rows += [(r['method'], str(r['seed']), r, r) for r in report['runs']]
    lines = [
        '# Fashion-MNIST: HSSL-iBOT vs iBOT vs raw pixels', '',
        f'Command: `{report["command"]}`', '',
        f'Date: {env["date"]}. Versions: torch {env["torch"]}, mmengine {env["mmengine"]}, '
        f'mmpretrain {env["mmpretrain"]}, mmhssl {env["mmhssl"]}, Python {env["python"]}. '
        f'Device: {env["device"]}.', '',
        f'Setting: mini ViT (64 wide, 4 blocks, patch 4, 28 px), {s["epochs"]} epoch(s), batch '
        f'{s["batch_size"]}, {s["iterations"]} iterations per run, pretraining and kNN/linear '
        f'memory on {s["num_train"]} training images ({s["num_per_class"] or "all"} per class), '
        f'evaluation on {s["num_test"]} test images, seeds {s["seeds"]}. Features: the teacher '
        f'base model\'s class token. kNN: k={KNN_K}, T={KNN_T}, cosine similarity, weighted '
        'votes. Linear probe: SGD on standardised features, learning rate chosen on 10% of the '
        'training subset, then retrained on all of it.', '',
        '| Method | Seed | kNN top-1 | kNN top-5 | Linear top-1 | Linear top-5 | '
        'Pretraining (min) | Last-epoch loss |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for name, seed, r, run in rows:
        lines.append(f'| {name} | {seed} | {_fmt(r["knn"]["top1"])} | {_fmt(r["knn"]["top5"])} | '
                     f'{_fmt(r["linear"]["top1"])} | {_fmt(r["linear"]["top5"])} | '
                     f'{_fmt(run and run["train_minutes"], 1)} | '
                     f'{_fmt(run and run["last_epoch_loss"], 3)} |')
    lines += ['', 'Pretraining minutes are wall-clock times and depend on the load of the '
              'machine.', '', '## Summary (generated)', ''] + summary_lines(report)
    lines += ['', f'Online kNN during pretraining (teacher, {s["online_subset"]}; the dashed line '
              f'is raw-pixel kNN on the same subset, '
              f'{report["raw_pixels"]["online_subset_knn"]["top1"]:.2f}):', '',
              f'![online kNN]({osp.basename(path)[:-3]}.png)', '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def plot_curves(report: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    colors = {'HSSL-iBOT': 'tab:red', 'iBOT': 'tab:blue'}
    styles = ['-', '--', ':', '-.']
    seeds = report['setting']['seeds']
    for r in report['runs']:
        x, y = zip(*r['online_knn'])
        ax.plot(x, y, styles[seeds.index(r['seed']) % len(styles)], marker='o', markersize=3,
                color=colors.get(r['method']), label=f'{r["method"]} (seed {r["seed"]})')
    ax.axhline(report['raw_pixels']['online_subset_knn']['top1'], color='gray', linestyle='--',
               label='raw pixels')
    ax.set_xlabel('epoch')
    ax.set_ylabel('kNN top-1 (%)')
    ax.set_title(f'Fashion-MNIST online kNN ({report["setting"]["online_subset"]})', fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.render_only:
        with open(args.out + '.json') as f:
            report = json.load(f)
        plot_curves(report, args.out + '.png')
        write_markdown(report, args.out + '.md')
        print(f'rewritten {args.out}.md and .png')
        return report
    init_default_scope('mmpretrain')
    command = 'python tools/benchmarks/fashion_mnist.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    cfg = build_cfg(args.methods[0], args.seeds[0], args)
    print('Raw-pixel baseline', flush=True)
    raw = raw_pixels(cfg, args)
    runs = [run_one(m, seed, args) for seed in args.seeds for m in args.methods]
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'OnlineKNNHook')
    report = dict(
        command=command, environment=environment_info(),
        setting=dict(methods=args.methods, configs={m: METHODS[m] for m in args.methods},
                     epochs=args.epochs, seeds=args.seeds, batch_size=args.batch_size,
                     num_per_class=args.num_per_class, num_train=raw['knn']['num_train'],
                     num_test=raw['knn']['num_test'], iterations=runs[0]['iterations'],
                     knn=dict(k=KNN_K, temperature=KNN_T), linear_epochs=args.linear_epochs,
                     online_subset=f'{hook["train_dataset"]["num_per_class"] * 10} train / '
                     f'{hook["test_dataset"]["num_per_class"] * 10} test images'),
        raw_pixels=raw, runs=runs)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    write_json(args.out + '.json', report)
    plot_curves(report, args.out + '.png')
    write_markdown(report, args.out + '.md')
    print('\n'.join(summary_lines(report)))
    print(f'written {args.out}.md, .json and .png')
    return report


if __name__ == '__main__':
    main()
