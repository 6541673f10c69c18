"""Transfer benchmark: do the zoo's weights help downstream? Random init vs iBOT vs HSSL-iBOT.

``python tools/benchmarks/transfer.py [--tasks ...] [--seeds 0 1 2] [--only KEY ...]``

Fine-tunes the Fashion-MNIST zoo's mini ViT on four tasks with the shipped downstream recipes
(configs/benchmarks/transfer/, each inheriting its family's config): mmpretrain layer-decay
fine-tuning with 1 % and 10 % of the train labels (top-1 on the full test split), mmseg UperNet
(mIoU) and mmdet Mask R-CNN (box and mask mAP) on Fashion-MNIST scenes, whose items come from the
test split for evaluation. Each row differs only in the backbone's ``init_cfg``: removed (random
initialisation) or the zoo entry's verified file, as a user would set it.

Finished runs accumulate in ``OUT.json`` (written at once, so sittings may run side by side with
``--only``); an interrupted run resumes from its last checkpoint in ``--work-dir``; a changed
setting (configs, weights, scenes) is refused. Writes ``OUT.md`` (table, checks, command, date,
machine, versions).
"""
import argparse
import copy
import hashlib
import os
import os.path as osp
import statistics
import time

from mmengine.config import Config
from mmengine.runner import Runner

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.apis import fetch_checkpoint
from mmhssl.datasets.fashion_mnist_scenes import SceneSettings, check_scenes, write_scenes
from mmhssl.engine import leave_out_schedulers_after_training
from mmhssl.evaluation import (ResultsStore, environment_info, fmt_mean_std, mean_std,
                               replace_marked_block)
from mmhssl.utils import use_safe_checkpoint_loader

CONFIG_DIR = 'configs/benchmarks/transfer'
# task: (config, metrics reported, the metric the checks use)
TASKS = {
    'finetune-1pct': (f'{CONFIG_DIR}/vit-mini-p4_1xb64-coslr-40e_fashion-mnist-1pct.py',
                      ('accuracy/top1', ), 'accuracy/top1'),
    'finetune-10pct': (f'{CONFIG_DIR}/vit-mini-p4_1xb64-coslr-15e_fashion-mnist-10pct.py',
                       ('accuracy/top1', ), 'accuracy/top1'),
    'segmentation': (f'{CONFIG_DIR}/upernet_vit-mini-p4_mln_1xb8-2k_fmnist-scenes.py',
                     ('mIoU', 'aAcc', 'mAcc'), 'mIoU'),
    'detection':
    (f'{CONFIG_DIR}/mask-rcnn_vit-mini-p4_simple-fpn_1xb8-1k_fmnist-scenes.py',
     ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50'), 'coco/bbox_mAP'),
}
RANDOM = 'Random init'
ROWS = {
    RANDOM: None,
    'iBOT': 'ibot_vit-mini-p4_1xb128-6e_fashion-mnist',
    'HSSL-iBOT': 'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist',
}
SCENE_TASKS = ('segmentation', 'detection')
# The README's table: (task, metric, column title).
README_COLUMNS = (('finetune-1pct', 'accuracy/top1', 'Fine-tune, 1 % labels: top-1'),
                  ('finetune-10pct', 'accuracy/top1',
                   'Fine-tune, 10 % labels: top-1'), ('segmentation', 'mIoU', 'UperNet: mIoU'),
                  ('detection', 'coco/bbox_mAP',
                   'Mask R-CNN: box mAP'), ('detection', 'coco/segm_mAP', 'Mask R-CNN: mask mAP'))
README_START, README_END = '<!-- transfer-table:start -->', '<!-- transfer-table:end -->'
SMOKE_SCENES = SceneSettings(num_scenes=(('train', 16), ('val', 8), ('test', 8)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS), default=list(TASKS))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--only', nargs='+', metavar='RUN', help='run only these, e.g. "detection/iBOT/0"')
    parser.add_argument('--work-dir', default='work_dirs/transfer')
    parser.add_argument(
        '--data-root',
        default='data/fmnist_scenes',
        help='the scenes (written '
        'there when missing)')
    parser.add_argument('--out', default='docs/results/transfer', help='OUT.json and OUT.md')
    parser.add_argument('--render-only', action='store_true', help='only rewrite OUT.md')
    parser.add_argument('--only-data', action='store_true', help='only write the scenes')
    parser.add_argument(
        '--drop',
        nargs='+',
        default=[],
        choices=list(TASKS),
        metavar='TASK',
        help='remove the stored runs of these tasks first (after a recipe change)')
    parser.add_argument(
        '--readme', help='also rewrite the table block of this README (e.g. README.md)')
    parser.add_argument(
        '--figure',
        action='store_true',
        help='draw OUT.png: predictions of the random-init and HSSL-iBOT models (seed 0, from '
        'their final checkpoints in --work-dir) on the same test scenes')
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='a few iterations per run on a handful of images and scenes, to check an install '
        '(use another --out, --work-dir and --data-root: its table is of another setting)')
    return parser.parse_args(argv)


def run_keys(args) -> list:
    """Runs in the order they are made: seed by seed, each task's three rows side by side."""
    return [f'{task}/{row}/{seed}' for seed in args.seeds for task in args.tasks for row in ROWS]


def _sha(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def config_digest(task: str) -> str:
    """The task's config as resolved (with its bases)."""
    return hashlib.sha256(Config.fromfile(TASKS[task][0]).pretty_text.encode()).hexdigest()[:12]


def setting_of(args) -> dict:
    """What must be equal for all runs of the table: the weights and the scenes (each task's
    config is checked per task, see :func:`check_configs`)."""
    weights = {row: _sha(fetch_checkpoint(name)) for row, name in ROWS.items() if name}
    return dict(
        weights=ROWS,
        weights_sha256=weights,
        scenes=scene_settings(args).as_dict(),
        smoke=args.smoke)


def check_configs(report: dict, tasks) -> None:
    """Refuse to add runs of a task whose stored runs were made with another version of its
    config (a recipe change starts that task over, with ``--drop TASK``)."""
    for task in tasks:
        digests = {r['config_sha256'] for r in report['runs'].values() if r['task'] == task}
        if digests - {config_digest(task)}:
            raise SystemExit(
                f'The stored {task} runs were made with another version of {TASKS[task][0]}. '
                f'Start the task over with --drop {task} (its runs are removed from the table), '
                'or restore the config.')


def scene_settings(args) -> SceneSettings:
    return SMOKE_SCENES if args.smoke else SceneSettings()


def ensure_scenes(data_root: str, settings: SceneSettings) -> None:
    """Write the scenes once; refuse a folder of other settings or with broken files."""
    if not osp.isfile(osp.join(data_root, 'scenes.json')):
        print(f'Writing Fashion-MNIST scenes to {data_root} ...', flush=True)
        counts = write_scenes(data_root, settings)
        print(f'  instances per split: {counts}', flush=True)
    check_scenes(data_root, settings)


def build_cfg(task: str, row: str, seed: int, args) -> Config:
    """The task's config as a user runs it, with only the backbone's weights set for the row."""
    cfg = Config.fromfile(TASKS[task][0])
    # Keyed by the config's digest: a run never resumes a checkpoint of another recipe.
    cfg.work_dir = osp.join(args.work_dir, task, config_digest(task),
                            f'{row.lower().replace(" ", "_")}_seed{seed}')
    cfg.randomness = dict(seed=seed, deterministic=False)
    # One visualiser per run: runs made in one process would otherwise log into the first's.
    cfg.visualizer.name = f'transfer-{task}-{row}-{seed}'
    if ROWS[row] is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = fetch_checkpoint(ROWS[row])
    if task in SCENE_TASKS:
        point_at(cfg, args.data_root)
    if args.smoke:
        shrink(cfg, task)
    cfg.resume = True  # continues from the work dir's last checkpoint when there is one
    return cfg


def shrink(cfg: Config, task: str) -> None:
    """Two iterations (or two epochs of 20 images) and a small test set."""
    if task in SCENE_TASKS:
        cfg.train_cfg.update(max_iters=2, val_interval=2)
        cfg.train_dataloader.batch_size = 2
    else:
        cfg.train_dataloader.dataset.num_per_class = 2
        cfg.train_dataloader.batch_size = 4
        cfg.test_dataloader.dataset.num_per_class = 5
        cfg.train_cfg.update(max_epochs=2, val_interval=3)
        leave_out_schedulers_after_training(cfg)
    cfg.default_hooks.logger.interval = 1


def point_at(cfg: Config, data_root: str) -> None:
    """Use the scenes in ``data_root`` (the configs name ``data/fmnist_scenes/``)."""
    root = data_root.rstrip('/') + '/'
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            loader.dataset.data_root = root
    for split in ('val', 'test'):
        evaluator = cfg.get(f'{split}_evaluator')
        if isinstance(evaluator, dict) and 'ann_file' in evaluator:
            evaluator.ann_file = osp.join(root, 'annotations', osp.basename(evaluator.ann_file))


def run(task: str, row: str, seed: int, args) -> dict:
    """Train (or continue) one run and evaluate it on the task's test split."""
    cfg = build_cfg(task, row, seed, args)
    print(f'\n=== {task}, {row}, seed {seed} in {cfg.work_dir}', flush=True)
    start = time.time()
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    minutes = (time.time() - start) / 60
    metrics = runner.test()
    names = TASKS[task][1]
    return dict(
        # COCO's mAP is a fraction; every metric of the table is in percent.
        metrics={k: float(metrics[k]) * (100 if k.startswith('coco/') else 1)
                 for k in names},
        train_minutes=minutes,
        iterations=runner.iter,
        config=TASKS[task][0],
        config_sha256=config_digest(task),
        weights=ROWS[row])


def main(argv=None) -> dict:
    args = parse_args(argv)
    use_safe_checkpoint_loader()  # runs resume from their last checkpoint
    if set(args.tasks) & set(SCENE_TASKS) or args.only_data:
        ensure_scenes(args.data_root, scene_settings(args))
    if args.only_data:
        return {}
    store = ResultsStore(args.out + '.json', setting_of(args), args.work_dir)
    if args.drop:
        with store.update() as report:
            report['runs'] = {k: r for k, r in report['runs'].items() if r['task'] not in args.drop}
    if not args.render_only:
        check_configs(store.load(), args.tasks)
        for key in run_keys(args):
            if (args.only and key not in args.only) or key in store.load()['runs']:
                continue
            task, row, seed = key.split('/')
            result = run(task, row, int(seed), args)
            result.update(
                task=task,
                row=row,
                seed=int(seed),
                date=time.strftime('%Y-%m-%d'),
                environment=environment_info())
            store.add(key, result, command='python tools/benchmarks/transfer.py')
            write_markdown(store.load(), args.out + '.md')
    if args.figure:
        draw_predictions(args)
    report = store.load()
    write_markdown(report, args.out + '.md')
    if args.readme:
        with open(args.readme, encoding='utf-8') as f:
            text = f.read()
        with open(args.readme, 'w', encoding='utf-8') as f:
            f.write(replace_marked_block(text, readme_block(report), README_START, README_END))
    print('\n'.join(summary_lines(report)))
    return report


def draw_predictions(args, num_scenes: int = 4) -> str:
    """``OUT.png``: ground truth, then each row's masks (mmdet's visualiser) and semantic maps
    (mmseg's), on the first test scenes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import mmcv
    from mmdet.apis import inference_detector, init_detector
    from mmengine.registry import DefaultScope
    from mmseg.apis import inference_model, init_model
    rows = (RANDOM, 'HSSL-iBOT')
    images = [osp.join(args.data_root, 'images', 'test', f'{i:05d}.png') for i in range(num_scenes)]
    panels, tasks = {}, []
    for task, init, infer in (('detection', init_detector, inference_detector),
                              ('segmentation', init_model, inference_model)):
        cfgs = {row: build_cfg(task, row, 0, args) for row in rows}
        ckpts = {
            row: osp.join(cfg.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
            for row, cfg in cfgs.items()
        }
        missing = [c for c in ckpts.values() if not osp.isfile(c)]
        if missing:
            print(f'{task}: left out of the figure, {missing} not found (run {task}/.../0 in '
                  'this --work-dir first).')
            continue
        tasks.append(task)
        for row, cfg in cfgs.items():
            cfg.model.backbone.init_cfg = None
            with DefaultScope.overwrite_default_scope(cfg.default_scope):
                model = init(cfg, ckpts[row], device='cpu')
                vis = _visualiser(cfg, model)
                for i, path in enumerate(images):
                    image = mmcv.imread(path, channel_order='rgb')
                    pred = infer(model, path)
                    vis.add_datasample(
                        f'{task}-{i}',
                        image,
                        data_sample=pred,
                        draw_gt=False,
                        show=False,
                        **({
                            'pred_score_thr': 0.5
                        } if task == 'detection' else {}))
                    panels[(task, row, i)] = vis.get_image()
    if not tasks:
        raise SystemExit('No task has the seed-0 checkpoints of both rows for the figure.')
    columns = [(t, r) for t in tasks for r in rows]
    fig, axes = plt.subplots(
        num_scenes, len(columns) + 1, figsize=(2 * (len(columns) + 1), 2 * num_scenes), dpi=100)
    for i, path in enumerate(images):
        axes[i, 0].imshow(mmcv.imread(path, channel_order='rgb'))
        for j, (task, row) in enumerate(columns, 1):
            axes[i, j].imshow(panels[(task, row, i)])
        for ax in axes[i]:
            ax.axis('off')
    axes[0, 0].set_title('test scene', fontsize=8)
    for j, (task, row) in enumerate(columns, 1):
        axes[0, j].set_title(f'{task}\n{row}', fontsize=8)
    fig.tight_layout()
    out = args.out + '.png'
    fig.savefig(out)
    plt.close(fig)
    return out


def _visualiser(cfg: Config, model):
    from mmengine.registry import VISUALIZERS
    vis_cfg = dict(cfg.visualizer, name=f'transfer-{id(model)}', vis_backends=None)
    vis = VISUALIZERS.build(vis_cfg)
    vis.dataset_meta = model.dataset_meta
    return vis


def _runs(report: dict, task: str, row: str) -> list:
    return sorted((r for r in report['runs'].values() if r['task'] == task and r['row'] == row),
                  key=lambda r: r['seed'])


def summary_lines(report: dict) -> list:
    """The checks: each pretrained row against random init (by more than 3 seed std), and
    HSSL-iBOT minus iBOT paired by seed, as measured."""
    lines = []
    for task, (_, _, metric) in TASKS.items():
        rnd = [r['metrics'][metric] for r in _runs(report, task, RANDOM)]
        if not rnd:
            continue
        for row in ('iBOT', 'HSSL-iBOT'):
            vals = [r['metrics'][metric] for r in _runs(report, task, row)]
            if not vals:
                continue
            gain = statistics.mean(vals) - statistics.mean(rnd)
            spread = max(mean_std(vals)[1] or 0., mean_std(rnd)[1] or 0.)
            if min(len(vals), len(rnd)) < 3:
                verdict = f'{min(len(vals), len(rnd))} seed(s) so far; the check needs 3'
            else:
                verdict = ('met' if gain > 3 *
                           spread else 'NOT met') + (f' (bar: > 3 seed std = {3 * spread:.2f})')
            lines.append(f'- {task}, {row} vs random init, {metric}: {fmt_mean_std(vals)} vs '
                         f'{fmt_mean_std(rnd)}, {gain:+.2f}: {verdict}.')
        base = {r['seed']: r for r in _runs(report, task, 'iBOT')}
        diffs = [
            r['metrics'][metric] - base[r['seed']]['metrics'][metric]
            for r in _runs(report, task, 'HSSL-iBOT') if r['seed'] in base
        ]
        if diffs:
            lines.append(f'- {task}, HSSL-iBOT minus iBOT, {metric}, paired by seed: ' +
                         ', '.join(f'{d:+.2f}' for d in diffs) +
                         (f' (mean {fmt_mean_std(diffs)}).' if len(diffs) > 1 else '.'))
    return lines or ['- No runs yet.']


def readme_block(report: dict) -> str:
    """The README's summary: one row per init, each task's main metrics (mean ± std, seeds)."""
    lines = [
        README_START, '<!-- generated by tools/benchmarks/transfer.py --render-only --readme '
        'README.md from docs/results/transfer.json; do not edit by hand -->',
        '| Init | ' + ' | '.join(title for _, _, title in README_COLUMNS) + ' |',
        '|---' * (len(README_COLUMNS) + 1) + '|'
    ]
    for row in ROWS:
        cells = []
        for task, metric, _ in README_COLUMNS:
            vals = [r['metrics'][metric] for r in _runs(report, task, row)]
            cells.append(f'{fmt_mean_std(vals)} ({len(vals)})' if vals else 'not run yet')
        lines.append(f'| {row} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines + [README_END])


def write_markdown(report: dict, path: str) -> None:
    envs = sorted({(r['date'], r['environment']['device'], r['environment']['torch'],
                    r['environment']['mmengine'], r['environment']['mmpretrain'])
                   for r in report['runs'].values()})
    import mmdet
    import mmseg
    lines = [
        '# Transfer: random init vs the iBOT and HSSL-iBOT zoo weights', '',
        'Command (resumable; sittings may run side by side with `--only`): '
        '`make benchmark-transfer`, i.e. `python tools/benchmarks/transfer.py`.', '',
        'Measured: ' + '; '.join(f'{d} on {dev} (torch {t}, mmengine {e}, mmpretrain {p})'
                                 for d, dev, t, e, p in envs) +
        f'; mmdet {mmdet.__version__}, mmsegmentation {mmseg.__version__}.', '',
        'Backbone: the Fashion-MNIST zoo\'s mini ViT (64 wide, 4 blocks, patch 4). Rows differ '
        'only in the backbone\'s `init_cfg` (none, or the zoo file: ' +
        ', '.join(f'`{n}`' for n in ROWS.values() if n) + '). Configs: ' +
        ', '.join(f'`{c}`' for c, _, _ in TASKS.values()) + '. Scenes: ' +
        ', '.join(f'{k} {v}' for k, v in report['setting']['scenes'].items()) + '.', ''
    ]
    for task, (config, names, _) in TASKS.items():
        if not any(r['task'] == task for r in report['runs'].values()):
            continue
        lines += [
            f'## {task}', '', '| Init | Seeds | ' + ' | '.join(names) + ' | Minutes per run |',
            '|---' * (len(names) + 3) + '|'
        ]
        for row in ROWS:
            runs = _runs(report, task, row)
            if runs:
                lines.append(f'| {row} | {", ".join(str(r["seed"]) for r in runs)} | ' + ' | '.join(
                    fmt_mean_std([r['metrics'][n] for r in runs])
                    for n in names) + f' | {fmt_mean_std([r["train_minutes"] for r in runs], 1)} |')
        lines.append('')
    lines += [
        'Mean ± sample standard deviation over seeds; per-run values in '
        f'`{osp.basename(path)[:-3]}.json`. Minutes: training wall-clock, one thread, on a shared '
        'machine.', '', '## Checks (generated)', ''
    ] + summary_lines(report) + ['']
    probe = path[:-3] + '_probe.md'
    if osp.isfile(probe):
        lines += [
            'Why the scene tasks show what they show: '
            f'[{osp.basename(probe)}]({osp.basename(probe)}) '
            '(`tools/benchmarks/transfer_probe.py`: item features of each init alone and on the '
            'scenes\' canvas, and UperNet on a frozen backbone).', ''
        ]
    figure = path[:-3] + '.png'
    if osp.isfile(figure):
        lines += [
            f'![predictions]({osp.basename(figure)})', '',
            'Predictions (score > 0.5) of the seed-0 models on the first test scenes, drawn by '
            'mmdet\'s and mmseg\'s visualisers (`--figure`); a task whose seed-0 checkpoints of '
            'both rows were not at hand is left out.', ''
        ]
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


if __name__ == '__main__':
    main()
