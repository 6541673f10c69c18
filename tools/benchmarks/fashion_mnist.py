"""Fashion-MNIST benchmark: iBOT, HSSL-iBOT and a control head against random init and raw pixels.

``python tools/benchmarks/fashion_mnist.py [--epochs 6] [--seeds 0 1 2] [--time-limit MIN]``

Pretrains each (method, seed) with its config, then evaluates the teacher's base model (class
token) with weighted kNN (k=20, T=0.07) and a linear probe, the memory / training set being the
training split and the queries the full 10,000-image test split. The same ViT at its random
initialisation (no training) and the raw pixels are evaluated the same way. Both SSL methods of one
seed share the seed, so data order, augmentations and masks start the same.

The table builds up across sittings: every finished run is stored in ``OUT.json`` at once and
skipped next time; an interrupted run (``--time-limit``, or a killed process) resumes from its last
epoch checkpoint in ``--work-dir``. A changed setting (epochs, subset, batch, configs) is refused
rather than mixed into the same table. Writes ``OUT.json``, ``OUT.md`` (table, checks, command,
date, machine, versions) and ``OUT.png`` (online kNN over training).

``--resweep LR ...`` re-runs the linear probes of the finished runs over other learning rates, to
check that the table's sweep was wide enough; ``--discrepancy`` measures the base/auxiliary
discrepancy of stored HSSL runs whose checkpoint is still here; ``--reproduce RUN ...`` trains
stored runs again from scratch, and keeps each re-run (and its discrepancy) beside its run;
``--publish DIR`` exports the zoo weights.
"""
import argparse
import copy
import glob
import hashlib
import json
import math
import os
import os.path as osp
import statistics
import time
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, MODELS

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.evaluation import (ResultsStore, environment_info, features_from_config, fmt_mean_std,
                               knn_accuracy, linear_probe, mean_std, pixel_features, spearman,
                               write_json)
from mmhssl.search.measure import checkpoint_discrepancy
from mmhssl.utils import command_line_tool, use_safe_checkpoint_loader
from mmhssl.utils.checkpoint import load_checkpoint_file

CONFIG_DIR = 'configs/benchmarks/fashion_mnist'
TABLE_METHODS = {
    'iBOT': f'{CONFIG_DIR}/ibot_vit-mini-p4_1xb128-6e_fashion-mnist.py',
    'HSSL-iBOT': f'{CONFIG_DIR}/hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py',
    'HSSL-iBOT (MLP head)':
    f'{CONFIG_DIR}/hssl-ibot_vit-mini-p4_aux-mlp2_1xb128-6e_fashion-mnist.py',
}
# Controls added after the table began: each run stores its config's hash, checked per method, so
# adding one does not invalidate the stored runs. iBOT at HSSL-iBOT's compute trains 8/6 as long.
CONTROLS = {
    'iBOT (8 epochs)':
    f'{CONFIG_DIR}/ibot_vit-mini-p4_1xb128-8e_fashion-mnist.py',
    'HSSL-iBOT (transformer head)':
    f'{CONFIG_DIR}/hssl-ibot_vit-mini-p4_aux-transformer2_1xb128-6e_fashion-mnist.py',
}
EPOCH_SCALE = {'iBOT (8 epochs)': 8 / 6}
METHODS = {**TABLE_METHODS, **CONTROLS}
BASELINE, CONTROL = 'iBOT', 'HSSL-iBOT (MLP head)'
EQUAL_COMPUTE, HOMOGENEOUS = CONTROLS
KNN_K, KNN_T = 20, 0.07
# The auxiliary-head ladder: each head's method, for the discrepancy-vs-accuracy ranking.
HEADS = {'ConvNeXt': 'HSSL-iBOT', 'MLP': CONTROL, 'transformer': HOMOGENEOUS}
# The discrepancy of a finished HSSL run: the first training images, two draws of their crops.
DISCREPANCY_IMAGES, DISCREPANCY_VIEWS = 256, 2
RANDOM, PIXELS = 'Random init', 'Raw pixels'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0, 1, 2],
        help='seeds of iBOT and HSSL-iBOT (and of the random-init features)')
    parser.add_argument(
        '--control-seeds',
        type=int,
        nargs='*',
        default=[0, 1, 2],
        help='seeds of the controls (MLP head, transformer head, iBOT at equal compute)')
    parser.add_argument(
        '--num-per-class',
        type=int,
        default=None,
        help='pretraining images per class (default: all 6,000)')
    parser.add_argument(
        '--eval-num-per-class',
        type=int,
        default=None,
        help='kNN memory / linear-probe training images per class (default: all)')
    parser.add_argument(
        '--test-num-per-class',
        type=int,
        default=None,
        help='test images per class (default: all 1,000)')
    parser.add_argument(
        '--online-num-per-class',
        type=int,
        nargs=2,
        metavar=('TRAIN', 'TEST'),
        help="online kNN subsets per class (default: the config's 200 and 100)")
    parser.add_argument('--batch-size', type=int, default=None, help="default: the config's")
    parser.add_argument('--linear-epochs', type=int, default=50)
    parser.add_argument('--data-root', help='folder of the IDX files (default: the Debian one)')
    parser.add_argument(
        '--time-limit',
        type=float,
        default=None,
        metavar='MIN',
        help='stop after the epoch that passes MIN minutes of this sitting (at '
        'least one epoch is trained); the next call resumes')
    parser.add_argument(
        '--only',
        nargs='+',
        metavar='RUN',
        help='run only these runs, e.g. "iBOT/0" "HSSL-iBOT/1" "Raw pixels"')
    parser.add_argument('--work-dir', default='work_dirs/fashion_mnist')
    parser.add_argument(
        '--out',
        default='docs/results/fashion_mnist',
        help='output stem: OUT.json, OUT.md and OUT.png')
    parser.add_argument(
        '--render-only', action='store_true', help='only rewrite OUT.md and OUT.png from OUT.json')
    parser.add_argument(
        '--resweep',
        type=float,
        nargs='+',
        metavar='LR',
        help='re-run the linear probe of the finished runs over these learning rates (random '
        'init always, trained runs while their checkpoint is here); kept in OUT.json apart from '
        'the table and shown in OUT.md')
    parser.add_argument(
        '--discrepancy',
        action='store_true',
        help='measure the base/auxiliary discrepancy of the finished HSSL runs that lack it '
        '(while their checkpoint is here); new runs measure it when they finish')
    parser.add_argument(
        '--reproduce',
        nargs='+',
        metavar='RUN',
        help='train these stored runs again from scratch (same config and seed, in '
        'WORK_DIR/reproduce; resumable) and store the re-run beside the run: its kNN, linear '
        'probe and, for HSSL runs, the discrepancy a run stored before that measure lacks')
    parser.add_argument(
        '--publish',
        metavar='DIR',
        help='export the teacher backbone of the best-kNN seed of iBOT and '
        'HSSL-iBOT into DIR (zoo weights) and print their metafile numbers')
    return parser.parse_args(argv)


def plan(args) -> list:
    """Run keys in the order they are made: raw pixels, then seed by seed (random init, iBOT,
    HSSL-iBOT), then the control."""
    keys = [PIXELS]
    for s in args.seeds:
        keys += [f'{RANDOM}/{s}', f'{BASELINE}/{s}', f'HSSL-iBOT/{s}']
    keys += [f'{c}/{s}' for c in (CONTROL, *CONTROLS) for s in args.control_seeds]
    return keys


def _walk(obj, fn) -> None:
    if isinstance(obj, dict):
        fn(obj)
        for v in obj.values():
            _walk(v, fn)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, fn)


def set_epochs(cfg: Config, epochs: int, num_images: int) -> None:
    """Rescale the configs' warm-up + cosine schedules to ``epochs``, in iterations (lr warm-up
    10 % of them, at least one), and evaluate the online kNN twice per epoch."""
    types = [s['type'] for s in cfg.param_scheduler]
    if types != ['LinearLR', 'CosineAnnealingLR', 'CosineAnnealingWeightDecay']:
        raise ValueError(f'Unexpected param_scheduler {types}; set_epochs knows the benchmark '
                         "configs' warm-up + cosine schedule only.")
    batch = cfg.train_dataloader.batch_size
    total = epochs * math.ceil(num_images / batch)
    warmup = max(1, round(0.1 * total))
    lin, cos, wd = cfg.param_scheduler
    for sched in (lin, cos, wd):
        sched.update(by_epoch=False, convert_to_iter_based=False)
    lin.update(begin=0, end=warmup)
    cos.update(begin=warmup, end=total, T_max=max(1, total - warmup))
    wd.update(begin=0, end=total, T_max=total)
    cfg.train_cfg.max_epochs = epochs
    for hook in cfg.custom_hooks:
        if hook['type'] == 'OnlineKNNHook':  # twice per epoch
            hook.update(by_epoch=False, interval=max(1, total // epochs // 2))


def build_cfg(method: str, seed: int, args) -> Config:
    cfg = Config.fromfile(METHODS[method])
    slug = method.lower().replace(' ', '_').replace('(', '').replace(')', '').replace('-', '_')
    cfg.work_dir = osp.join(args.work_dir, f'{slug}_seed{seed}')
    cfg.randomness = dict(seed=seed, diff_rank_seed=True)
    if args.batch_size:
        cfg.train_dataloader.batch_size = args.batch_size
    cfg.train_dataloader.dataset.num_per_class = args.num_per_class
    cfg.eval_dataloaders.train.dataset.num_per_class = args.eval_num_per_class
    cfg.eval_dataloaders.test.dataset.num_per_class = args.test_num_per_class
    set_epochs(cfg, epochs_of(method, args), 10 * (args.num_per_class or 6000))
    if args.online_num_per_class:
        hook = next(h for h in cfg.custom_hooks if h['type'] == 'OnlineKNNHook')
        hook['train_dataset']['num_per_class'], hook['test_dataset']['num_per_class'] = (
            args.online_num_per_class)
    cfg.default_hooks.checkpoint = dict(
        type='SafeCheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        backend_args=dict(backend='atomic_local'))
    cfg.resume = True  # continues from work_dir's last checkpoint when there is one
    if args.data_root:

        def point(node):
            if node.get('type') == 'LocalFashionMNIST':
                node['data_root'] = args.data_root

        for key in ('train_dataloader', 'eval_dataloaders', 'custom_hooks'):
            _walk(cfg[key], point)
    return cfg


def epochs_of(method: str, args) -> int:
    return round(args.epochs * EPOCH_SCALE.get(method, 1))


def config_digest(method: str) -> str:
    with open(METHODS[method], 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def check_control_config(report: dict, method: str) -> None:
    """Refuse to add a control run made with another version of its config than its stored runs."""
    stored = {r.get('config_sha256') for r in report['runs'].values() if r['method'] == method}
    if stored - {config_digest(method)}:
        raise SystemExit(f'The stored {method} runs were made with another version of '
                         f'{METHODS[method]}; restore it, or remove those runs from the table.')


def setting_of(args) -> dict:
    """What must be equal for runs to share a table (the configs by content hash)."""
    digest = {m: config_digest(m) for m in TABLE_METHODS}
    return dict(
        epochs=args.epochs,
        num_per_class=args.num_per_class,
        eval_num_per_class=args.eval_num_per_class,
        test_num_per_class=args.test_num_per_class,
        batch_size=args.batch_size,
        online_num_per_class=args.online_num_per_class,
        linear_epochs=args.linear_epochs,
        configs=TABLE_METHODS,
        config_sha256=digest,
        knn=dict(k=KNN_K, temperature=KNN_T))


def evaluate(train, test, args) -> dict:
    (xtr, ytr), (xte, yte) = train, test
    return dict(
        knn=knn_accuracy(xtr, ytr, xte, yte, 10, KNN_K, KNN_T),
        linear=linear_probe(xtr, ytr, xte, yte, 10, epochs=args.linear_epochs))


def pixels_of(dataset_cfg: dict):
    dataset = DATASETS.build(dict(copy.deepcopy(dataset_cfg), pipeline=[]))
    images = torch.stack(
        [torch.from_numpy(dataset.get_data_info(i)['img'][..., 0]) for i in range(len(dataset))])
    return pixel_features(images), torch.from_numpy(dataset.get_gt_labels())


def raw_pixels(args) -> dict:
    cfg = build_cfg(BASELINE, 0, args)
    result = evaluate(
        pixels_of(cfg.eval_dataloaders.train.dataset), pixels_of(cfg.eval_dataloaders.test.dataset),
        args)
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'OnlineKNNHook')
    (xtr, ytr), (xte, yte) = pixels_of(hook['train_dataset']), pixels_of(hook['test_dataset'])
    result['online_subset_knn'] = knn_accuracy(xtr, ytr, xte, yte, 10, hook['k'],
                                               hook['temperature'])
    return result


def random_init(seed: int, args) -> dict:
    return evaluate(**random_init_features(seed, args), args=args)


def random_init_features(seed: int, args) -> dict:
    """The ViT exactly as training would start it (same seed, same init), never trained."""
    cfg = build_cfg(BASELINE, seed, args)
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, 'random_init.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    feats = _features(cfg, path)
    os.remove(path)
    return feats


def _features(cfg, checkpoint):
    feats = features_from_config(cfg, checkpoint, part='teacher', feature='cls')
    return dict(train=feats['train'], test=feats['test'])


class _Sitting(Hook):
    """Records the sitting's training minutes after every epoch, so that a killed sitting still
    counts the epochs its checkpoint holds, and ends training after the epoch that passes the
    sitting's deadline (the checkpoint stays).

    Args:
        deadline (float): ``time.time()`` after which no new epoch starts.
        segments_file (str): JSON list of the run's sittings, ``{minutes, end_epoch}`` each.
    """

    priority = 'LOWEST'  # after the checkpoint hook has saved the epoch

    def __init__(self, deadline: float, segments_file: str) -> None:
        self.deadline, self.segments_file = deadline, segments_file
        self.earlier = json.load(open(segments_file)) if osp.isfile(segments_file) else []
        self.sittings = self.earlier  # the run's sittings, this one once it has an epoch
        self.start = time.time()

    def after_train_epoch(self, runner) -> None:
        # mmengine advances runner.epoch after this hook: the finished epoch is runner.epoch + 1.
        self.sittings = self.earlier + [
            dict(minutes=(time.time() - self.start) / 60, end_epoch=runner.epoch + 1)
        ]
        write_json(self.segments_file, self.sittings)
        if time.time() > self.deadline:
            runner.train_loop.stop_training = True


def online_curve(work_dir: str) -> list:
    """(epoch, teacher kNN top-1) over all sittings of a run, from mmengine's scalar logs."""
    points = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'knn/top1' in rec:
                    points[rec['step']] = rec['knn/top1']
    return [[step, top1] for step, top1 in sorted(points.items())]


def train(method: str, seed: int, args, deadline: float):
    """Pretrain (or continue) one run. Returns its result, or None if stopped by the deadline."""
    if method in CONTROLS:
        check_control_config(load_report(args), method)
    cfg = build_cfg(method, seed, args)
    epochs = epochs_of(method, args)
    print(f'\n=== {method}, seed {seed}: {epochs} epochs in {cfg.work_dir}', flush=True)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    sitting = _Sitting(deadline, osp.join(cfg.work_dir, 'segments.json'))
    runner.register_hook(sitting)
    runner.train()
    segments = sitting.sittings
    if runner.epoch < epochs:
        return None
    iters_per_epoch = len(runner.train_dataloader)
    curve = [[step / iters_per_epoch, top1] for step, top1 in online_curve(cfg.work_dir)]
    ckpt = osp.join(cfg.work_dir, f'epoch_{epochs}.pth')
    result = evaluate(**_features(cfg, ckpt), args=args)
    if cfg.model.get('neck') is not None:
        result['discrepancy'] = run_discrepancy(cfg, ckpt)
    result.update(
        train_minutes=sum(s['minutes'] for s in segments),
        sittings=len(segments),
        iterations=runner.iter,
        online_knn=curve,
        checkpoint=ckpt,
        config=METHODS[method],
        config_sha256=config_digest(method))
    return result


def results(args) -> ResultsStore:
    """The table's JSON store; its lock lives in the work dir."""
    return ResultsStore(args.out + '.json', setting_of(args), args.work_dir)


def load_report(args) -> dict:
    return results(args).load()


def store(args, key: str, result: dict) -> dict:
    """Add one finished run to OUT.json, keeping what other sittings stored.

    Sittings may run side by side (e.g. ``--only iBOT/1`` and ``--only HSSL-iBOT/1``, one core
    each).
    """
    return results(args).add(key, result, command='python tools/benchmarks/fashion_mnist.py')


def resweep(args) -> None:
    """Linear probes of the finished runs over ``args.resweep``, to see whether the table's sweep
    was wide enough. Resumable: runs already probed over the same rates are skipped."""
    lrs = sorted(args.resweep)
    report = load_report(args)
    done = report.get('linear_sweep', {})
    for key, run in report['runs'].items():
        method, _, seed = key.partition('/')
        if method == PIXELS or (done.get('lrs') == lrs and key in done['runs']):
            continue
        if method == RANDOM:
            feats = random_init_features(int(seed), args)
        elif osp.isfile(run['checkpoint']):
            feats = _features(build_cfg(method, int(seed), args), run['checkpoint'])
        else:
            print(f'{key}: its checkpoint {run["checkpoint"]} is not here; left out.')
            continue
        result = linear_probe(*feats['train'], *feats['test'], 10, lrs, args.linear_epochs)
        print(f'{key}: linear top-1 {result["top1"]:.2f} at lr {result["lr"]}')
        with results(args).update() as stored:
            sweep = stored.setdefault('linear_sweep', dict(lrs=lrs, runs={}))
            if sweep['lrs'] != lrs:  # other rates: this sweep replaces that one
                sweep.update(lrs=lrs, runs={})
            sweep['runs'][key] = dict(result, date=time.strftime('%Y-%m-%d'))


def run_discrepancy(cfg: Config, checkpoint: str) -> dict:
    """The base/auxiliary discrepancy (:func:`~mmhssl.search.hssl_discrepancy`) of a finished
    HSSL run, on its config's first training images."""
    state = load_checkpoint_file(checkpoint)['state_dict']
    return checkpoint_discrepancy(cfg, state, DISCREPANCY_IMAGES, DISCREPANCY_VIEWS)


def reproduce(args, deadline: float) -> None:
    """Train stored runs again from scratch and keep each re-run under its run's
    ``reproduction``: a check that the table's numbers come back, and the way to measure what a
    run lost with its checkpoint (the discrepancy)."""
    again = argparse.Namespace(**{**vars(args), 'work_dir': osp.join(args.work_dir, 'reproduce')})
    for key in args.reproduce:
        stored_runs = load_report(args)['runs']
        run = stored_runs.get(key)
        if run is None or run['method'] in (PIXELS, RANDOM):
            raise SystemExit(f'--reproduce {key!r}: not a stored pretraining run; stored: '
                             f'{", ".join(stored_runs)}.')
        if 'reproduction' in run:
            continue
        result = train(run['method'], run['seed'], again, deadline)
        if result is None:
            print(f'Time limit reached inside the re-run of {key}; the next call resumes it.')
            return
        keep = ('knn', 'linear', 'discrepancy', 'train_minutes', 'sittings', 'checkpoint')
        rerun = {k: result[k] for k in keep if k in result}
        rerun.update(date=time.strftime('%Y-%m-%d'), environment=environment_info())
        with results(args).update() as stored:
            stored['runs'][key]['reproduction'] = rerun


def reproduction_lines(report: dict) -> list:
    lines = []
    for key, run in report['runs'].items():
        again = run.get('reproduction')
        if again:
            lines.append(f'- {key} trained again from scratch (same config and seed): kNN '
                         f'{again["knn"]["top1"]:.2f} (table: {run["knn"]["top1"]:.2f}), linear '
                         f'{again["linear"]["top1"]:.2f} (table: {run["linear"]["top1"]:.2f}).')
    return lines


def discrepancy_of(run: dict) -> Optional[dict]:
    """The run's discrepancy, or that of its re-run when the run itself was not measured."""
    return run.get('discrepancy') or run.get('reproduction', {}).get('discrepancy')


def backfill_discrepancy(args) -> None:
    """Measure the discrepancy of stored HSSL runs that lack it, while their checkpoint is here."""
    for key, run in load_report(args)['runs'].items():
        method, _, seed = key.partition('/')
        if method not in HEADS.values() or 'discrepancy' in run:
            continue
        if not osp.isfile(run['checkpoint']):
            print(f'{key}: its checkpoint {run["checkpoint"]} is not here; left out.')
            continue
        measures = run_discrepancy(build_cfg(method, int(seed), args), run['checkpoint'])
        print(f'{key}: discrepancy {measures}')
        with results(args).update() as stored:
            stored['runs'][key]['discrepancy'] = measures


@command_line_tool()
def main(argv=None) -> dict:
    args = parse_args(argv)
    use_safe_checkpoint_loader()  # the runs resume from their last checkpoint
    if args.render_only or args.publish:
        with open(args.out + '.json') as f:
            report = json.load(f)
        if args.publish:
            publish(report, args)
        render(report, args.out)
        return report
    init_default_scope('mmpretrain')
    deadline = time.time() + 60 * args.time_limit if args.time_limit is not None else float('inf')
    if args.resweep or args.discrepancy or args.reproduce:
        if args.reproduce:
            reproduce(args, deadline)
        if args.resweep:
            resweep(args)
        if args.discrepancy:
            backfill_discrepancy(args)
        report = load_report(args)
        render(report, args.out)
        return report
    report = load_report(args)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    trained = False  # every call makes progress: at least one epoch of training
    for key in plan(args):
        if args.only and key not in args.only:
            continue
        if key in load_report(args)['runs']:  # done here or by a concurrent sitting
            continue
        if trained and time.time() > deadline:
            print(f'Time limit reached; {key} and later runs are left for the next call.')
            break
        method, _, seed = key.partition('/')
        if method == PIXELS:
            result = raw_pixels(args)
        elif method == RANDOM:
            result = random_init(int(seed), args)
        else:
            result = train(method, int(seed), args, deadline)
            trained = True
            if result is None:
                print(f'Time limit reached inside {key}; the next call resumes it.')
                break
        result.update(
            method=method,
            seed=None if method == PIXELS else int(seed),
            date=time.strftime('%Y-%m-%d'),
            environment=environment_info())
        report = store(args, key, result)
        render(report, args.out)
    report = load_report(args)
    render(report, args.out)
    print('\n'.join(summary_lines(report)))
    return report


# The zoo entries state kNN on this fixed subset, which a test reproduces in seconds.
ZOO_KNN_SUBSET = dict(train=1000, test=200)


def zoo_knn(cfg: Config, backbone_file: str) -> float:
    """kNN top-1 of exported weights on the zoo's fixed subset (first N images per class)."""
    cfg = copy.deepcopy(cfg)
    cfg.eval_dataloaders.train.dataset.num_per_class = ZOO_KNN_SUBSET['train']
    cfg.eval_dataloaders.test.dataset.num_per_class = ZOO_KNN_SUBSET['test']
    feats = features_from_config(cfg, backbone_file, part='teacher', feature='cls')
    (xtr, ytr), (xte, yte) = feats['train'], feats['test']
    return knn_accuracy(xtr, ytr, xte, yte, 10, KNN_K, KNN_T)['top1']


def publish(report: dict, args) -> None:
    """Export the best seed (of those with a checkpoint here) of each SSL method as zoo weights.

    Prints what the metafile needs: the file, its SHA256 and its kNN on the zoo subset.
    """
    from mmhssl.apis import export_backbone
    os.makedirs(args.publish, exist_ok=True)
    by = _by_method(report)
    for method in (BASELINE, 'HSSL-iBOT'):
        # A sitting keeps its checkpoints in its own work dir: only runs whose checkpoint is still
        # here can be exported.
        runs = [r for r in by.get(method, []) if osp.isfile(r['checkpoint'])]
        if not runs:
            print(f'{method}: no finished run with its checkpoint here to publish.')
            continue
        best = max(runs, key=lambda r: r['knn']['top1'])
        stem = osp.splitext(osp.basename(METHODS[method]))[0]
        path, digest = export_backbone(
            best['checkpoint'],
            osp.join(args.publish, stem + '.pth'),
            meta=dict(benchmark_run=f'{method}/{best["seed"]}'))
        subset = zoo_knn(build_cfg(method, best['seed'], args), path)
        print(f'{method} seed {best["seed"]}: {path}\n  SHA256: {digest}\n  kNN top-1 (full '
              f'test split) {best["knn"]["top1"]:.2f}, linear {best["linear"]["top1"]:.2f}, '
              f'kNN top-1 on the zoo subset ({ZOO_KNN_SUBSET}) {subset:.2f}')


def _by_method(report: dict) -> dict:
    out = {}
    for r in report['runs'].values():
        out.setdefault(r['method'], []).append(r)
    return out


def summary_lines(report: dict) -> list:
    """The table's checks, computed from the stored runs."""
    by = _by_method(report)
    lines = []
    if RANDOM not in by:
        return ['- No runs yet.']
    rnd = [r['knn']['top1'] for r in by[RANDOM]]
    for method in (BASELINE, 'HSSL-iBOT', CONTROL, *CONTROLS):
        runs = by.get(method, [])
        if not runs:
            continue
        knn = [r['knn']['top1'] for r in runs]
        gain = statistics.mean(knn) - statistics.mean(rnd)
        _, std = mean_std(knn)
        _, rstd = mean_std(rnd)
        spread = max(std or 0., rstd or 0.)
        verdict = (f'{"meets" if gain >= 10 and gain > 3 * spread else "misses"} the bar of '
                   f'+10 points and > 3 seed std ({3 * spread:.2f})'
                   if std is not None else 'one seed so far, no spread yet')
        lines.append(f'- {method}: kNN {fmt_mean_std(knn)} over {len(runs)} seed(s), '
                     f'{gain:+.2f} points over random init ({fmt_mean_std(rnd)}): {verdict}.')
    # The control answers whether a gain comes from the ConvNeXt head's architecture or from
    # any auxiliary head: each pair is compared on the seeds both ran.
    for method, ref in (('HSSL-iBOT', BASELINE), (CONTROL, BASELINE), ('HSSL-iBOT', CONTROL),
                        ('HSSL-iBOT', EQUAL_COMPUTE), ('HSSL-iBOT', HOMOGENEOUS)):
        if not (by.get(method) and by.get(ref)):
            continue
        base = {r['seed']: r for r in by[ref]}
        for metric in ('knn', 'linear'):
            diffs = [
                r[metric]['top1'] - base[r['seed']][metric]['top1'] for r in by[method]
                if r['seed'] in base
            ]
            if diffs:
                mean, std = mean_std(diffs)
                lines.append(f'- {method} minus {ref}, {metric} top-1, paired by seed: ' +
                             ', '.join(f'{d:+.2f}' for d in diffs) +
                             (f' (mean {mean:+.2f} ± {std:.2f}).' if std is not None else '.'))
    lines += ladder_lines(by) + reproduction_lines(report)
    if PIXELS in by:
        px = by[PIXELS][0]
        lines.append(f'- Raw pixels: kNN {px["knn"]["top1"]:.2f}, linear '
                     f'{px["linear"]["top1"]:.2f}.')
    edge = [k for k, r in report['runs'].items() if r['linear'].get('lr_at_sweep_edge')]
    if edge:
        # Once --resweep has measured it, say what the wider sweep found instead of what it may.
        swept = report.get('linear_sweep', {}).get('runs', {})
        moves = [swept[k]['top1'] - report['runs'][k]['linear']['top1'] for k in edge if k in swept]
        outcome = (f'the wider sweep below moves {len(moves)} of them by {min(moves):+.2f} to '
                   f'{max(moves):+.2f} points' if moves else
                   'a wider sweep may raise their linear top-1 (`--resweep` measures it)')
        lines.append(f'- Linear probe: the learning rate chosen on the held-out split is at an end '
                     f'of the sweep for {len(edge)} of {len(report["runs"])} runs '
                     f'({", ".join(edge)}); {outcome}. kNN has no such choice.')
    return lines


def ladder_lines(by: dict) -> list:
    """The auxiliary-head ladder: does the ranking of heads by discrepancy (the distillation CE
    of the finished runs) match their ranking by kNN and by linear probe?"""
    heads = {h: by[m] for h, m in HEADS.items() if by.get(m)}
    if not heads:
        return []
    lines, means = [], {}
    for head, runs in heads.items():
        measured = [(r, discrepancy_of(r)) for r in runs]
        ce = [d['ce'] for _, d in measured if d]
        rerun = sum('discrepancy' not in r for r, d in measured if d)
        knn = [r['knn']['top1'] for r in runs]
        linear = [r['linear']['top1'] for r in runs]
        lines.append(f'- {head} head: discrepancy (CE) ' +
                     (f'{fmt_mean_std(ce, 3)} over {len(ce)} run(s)' if ce else 'not measured') +
                     (f' ({rerun} of them on the re-run of the same seed)' if rerun else '') +
                     f'; kNN {fmt_mean_std(knn)}, linear {fmt_mean_std(linear)} over {len(runs)} '
                     'seed(s).')
        if ce:
            means[head] = (statistics.mean(ce), statistics.mean(knn), statistics.mean(linear))
    if len(means) < len(HEADS):
        lines.append(
            f'- Heads ranked by discrepancy vs accuracy: needs the discrepancy of all '
            f'{len(HEADS)} heads; measured for {len(means)} ({", ".join(means) or "none"}).')
        return lines
    order = sorted(means, key=lambda h: -means[h][0])
    rho = [spearman([m[0] for m in means.values()], [m[i] for m in means.values()]) for i in (1, 2)]
    lines.append(f'- Heads by discrepancy, largest first: {" > ".join(order)}; by kNN: '
                 f'{" > ".join(sorted(means, key=lambda h: -means[h][1]))}; by linear: '
                 f'{" > ".join(sorted(means, key=lambda h: -means[h][2]))}. Spearman over the '
                 f'{len(means)} heads (per-head means): discrepancy vs kNN '
                 f'{_fmt_rho(rho[0])}, vs linear {_fmt_rho(rho[1])}.')
    return lines


def _fmt_rho(rho) -> str:
    return 'undefined (ties)' if rho is None else f'{rho:+.2f}'


def search_lines(search: dict, by: dict) -> list:
    """The label-free search's ranking beside the full runs' (by mean kNN), and its cost."""
    family = {
        'AuxConvNeXtHead': 'ConvNeXt',
        'AuxMLPHead': 'MLP',
        'AuxTransformerHead': 'transformer'
    }
    ranking = [family.get(search['candidates'][c]['neck']['type'], c) for c in search['ranking']]
    full = {
        h: statistics.mean(r['knn']['top1'] for r in by[m])
        for h, m in HEADS.items() if by.get(m)
    }
    minutes = search['train_seconds'] / 60
    per_run = [r['train_minutes'] for r in by.get('HSSL-iBOT', []) if 'train_minutes' in r]
    cost = f'{minutes:.1f} min of training'
    if per_run:
        cost += f' ({minutes / statistics.mean(per_run):.0%} of one HSSL-iBOT run\'s ' \
                f'{statistics.mean(per_run):.0f} min)'
    return [
        '## Auxiliary-head search (generated)', '',
        f'Command: `{search["command"]}`, measured {search["environment"]["date"]} on '
        f'{search["environment"]["device"]} (shared). {search["iters"]} iterations of the '
        'config\'s schedule, '
        f'batch {search["batch_size"]}, {search["heldout_images"]} held-out images; '
        f'{cost}. Rule: {search["rule"]}.', '', f'- The search\'s ranking: {" > ".join(ranking)}.',
        '- The full runs\' ranking by mean kNN: ' +
        (' > '.join(f'{h} ({full[h]:.2f})'
                    for h in sorted(full, key=lambda h: -full[h])) if full else 'no runs yet') +
        (f' (heads without runs yet: {", ".join(h for h in HEADS if h not in full)})' if len(full)
         < len(HEADS) else '') + '.', '', f'![search]({osp.basename(search["plot"])})', ''
    ]


def render(report: dict, out: str) -> None:
    write_markdown(report, out + '.md')
    plot_curves(report, out + '.png')


def write_markdown(report: dict, path: str) -> None:
    s = report['setting']
    by = _by_method(report)
    envs = sorted({(r['date'], r['environment']['device'], r['environment']['torch'],
                    r['environment']['mmpretrain'], r['environment']['mmhssl'])
                   for r in report['runs'].values()})
    batch = s['batch_size'] or Config.fromfile(s['configs'][BASELINE]).train_dataloader.batch_size
    lines = [
        '# Fashion-MNIST: iBOT vs HSSL-iBOT vs random init and raw pixels',
        '',
        'Command (resumable, sittings may run side by side with `--only`): '
        '`make benchmark-fmnist`, i.e. `python tools/benchmarks/fashion_mnist.py` with the '
        'defaults below.',
        '',
        'Measured: ' + '; '.join(f'{d} on {dev} (torch {t}, mmpretrain {p}, mmhssl {h})'
                                 for d, dev, t, p, h in envs) + '.',
        '',
        f'Setting: mini ViT (64 wide, 4 blocks, patch 4, 28 px), {s["epochs"]} epochs of '
        f'{s["num_per_class"] or 6000} images per class, batch {batch}; '
        f'evaluation of the teacher base model\'s class token with kNN (k={KNN_K}, T={KNN_T}, '
        'cosine, weighted votes) and a linear probe (SGD on standardised features, lr chosen on '
        'a held-out 10 % of the training features), memory / training set: '
        f'{s["eval_num_per_class"] or 6000} training images per class; queries: '
        f'{s["test_num_per_class"] or 1000} test images per class. Configs: ' +
        ', '.join(f'`{p}`' for p in s['configs'].values()) + '.',
        '',
        '| Method | Seeds | kNN top-1 | Linear top-1 | Pretraining (min per run) |',
        '|---|---|---|---|---|',
    ]
    for method in (PIXELS, RANDOM, BASELINE, 'HSSL-iBOT', CONTROL, *CONTROLS):
        runs = by.get(method)
        if not runs:
            continue
        seeds = ', '.join(str(r['seed']) for r in runs) if method != PIXELS else '-'
        minutes = [r['train_minutes'] for r in runs if 'train_minutes' in r]
        lines.append(f'| {method} | {seeds} | {fmt_mean_std([r["knn"]["top1"] for r in runs])} | '
                     f'{fmt_mean_std([r["linear"]["top1"] for r in runs])} | '
                     f'{fmt_mean_std(minutes) if minutes else "-"} |')
    lines += [
        '', 'Mean ± sample standard deviation over seeds. Per-run values are in '
        f'`{osp.basename(path)[:-3]}.json`. Minutes are wall-clock on a shared machine.', '',
        '## Checks (generated)', ''
    ] + summary_lines(report)
    lines += [
        '', '![online kNN](' + osp.basename(path)[:-3] + '.png)', '',
        'Online kNN: the teacher on the online subsets, after every epoch.', ''
    ]
    search_file = path[:-3] + '_search.json'
    if osp.isfile(search_file):
        with open(search_file) as f:
            search = dict(json.load(f), plot=path[:-3] + '_search.png')
        lines += search_lines(search, by)
    sweep = report.get('linear_sweep')
    if sweep and sweep['runs']:
        lines += [
            '## Linear probe over a wider sweep (generated)', '',
            f'Command: `python tools/benchmarks/fashion_mnist.py --resweep '
            f'{" ".join(f"{lr:g}" for lr in sweep["lrs"])}` (the runs whose features could be '
            'rebuilt; the table above keeps its own sweep), measured ' +
            ', '.join(sorted({r['date']
                              for r in sweep['runs'].values()})) + '.', '',
            '| Run | Table: linear top-1 (lr) | Wider sweep: linear top-1 (lr) | Difference |',
            '|---|---|---|---|'
        ]
        for key, new in sweep['runs'].items():
            old = report['runs'][key]['linear']
            lines.append(f'| {key} | {old["top1"]:.2f} ({old["lr"]:g}) | {new["top1"]:.2f} '
                         f'({new["lr"]:g}) | {new["top1"] - old["top1"]:+.2f} |')
        lines.append('')
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def plot_curves(report: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    colors = {
        BASELINE: 'tab:blue',
        'HSSL-iBOT': 'tab:red',
        CONTROL: 'tab:green',
        EQUAL_COMPUTE: 'tab:cyan',
        HOMOGENEOUS: 'tab:purple'
    }
    styles = ['-', '--', ':', '-.']
    for r in report['runs'].values():
        if 'online_knn' not in r or not r['online_knn']:
            continue
        x, y = zip(*r['online_knn'])
        ax.plot(
            x,
            y,
            styles[r['seed'] % len(styles)],
            marker='o',
            markersize=3,
            color=colors.get(r['method']),
            label=f'{r["method"]} (seed {r["seed"]})')
    px = report['runs'].get(PIXELS)
    if px:
        ax.axhline(
            px['online_subset_knn']['top1'], color='gray', linestyle='--', label='raw pixels')
    ax.set_xlabel('epoch')
    ax.set_ylabel('teacher kNN top-1 (%)')
    ax.set_title('Fashion-MNIST online kNN (online subsets)', fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == '__main__':
    main()
