"""The short joint training and label-free scoring behind ``tools/search_aux_head.py``."""
import copy
import math
import time
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.runner import set_random_seed
from mmpretrain.registry import DATASETS, MODELS, PARAM_SCHEDULERS
from tqdm import tqdm

from ..models.utils import init_weights_quietly
from .candidates import neck_snippet, resolve_candidate
from .discrepancy import discrepancy_measures

#: Ranking rule: the paper finds the base improves as the base/aux discrepancy grows, so the
#: candidate with the LARGEST held-out distillation cross-entropy ranks first. Objectives without a
#: centred softmax (MoCo v3) have no such cross-entropy; they rank by 1 - linear CKA instead.
RULES = {
    'ce':
    'largest held-out ce (teacher-aux -> student-base distillation cross-entropy) first',
    'cka_distance':
    'largest held-out cka_distance (1 - linear CKA of student-base and '
    'teacher-aux features) first; the objective has no distillation cross-entropy',
}

#: The search trains where the model is, in full precision: AMP wrappers give way to these.
FULL_PRECISION = {'SSLAmpOptimWrapper': 'SSLOptimWrapper', 'AmpOptimWrapper': 'OptimWrapper'}

#: Scheduler arguments that count time (in epochs or iterations, as the scheduler's ``by_epoch``).
TIME_KEYS = ('begin', 'end', 'T_max', 'step_size', 'milestones')


def base_dataset(dataset):
    while hasattr(dataset, 'dataset'):  # unwrap RepeatDataset / ConcatDataset-like wrappers
        dataset = dataset.dataset
    return dataset


def runner_model_cfg(cfg) -> dict:
    """A copy of ``cfg.model`` with the data preprocessor the runner gives it: the model's own,
    else the config's top-level one (where batch-side multi-crop configs put theirs)."""
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('data_preprocessor') is None and cfg.get('data_preprocessor') is not None:
        model_cfg['data_preprocessor'] = copy.deepcopy(cfg.data_preprocessor)
    return model_cfg


def build_search_model(cfg,
                       candidates: Dict[str, dict],
                       momentum: float = 0.99,
                       teacher_temp: float = 0.04):
    """A :class:`~mmhssl.models.MultiAuxSearch` from an HSSL config's base, projector and loss.

    Every candidate gets its own copy of the config's ``model.loss``. Its teacher temperature, which
    the schedule hook would warm up over many epochs, stays at ``teacher_temp`` (objectives
    without one, e.g. MoCo v3, have nothing to set).
    """
    model_cfg = runner_model_cfg(cfg)
    head = copy.deepcopy(dict(model_cfg.head))
    head['type'] = head.get('type', 'HSSLProjector')
    head.pop('with_aux', None)
    model = MODELS.build(
        dict(
            type='MultiAuxSearch',
            backbone=copy.deepcopy(model_cfg.backbone),
            head=head,
            loss=copy.deepcopy(model_cfg.loss),
            candidates=candidates,
            aux_input=model_cfg.get('aux_input'),
            base_momentum=momentum,
            data_preprocessor=model_cfg.get('data_preprocessor')))
    for loss in model.losses.values():
        if hasattr(loss, 'teacher_temp'):
            loss.teacher_temp = teacher_temp
    init_weights_quietly(model)
    return model


def search_schedule(cfg, iters: int, iters_per_epoch: Optional[int] = None) -> List[dict]:
    """The config's ``param_scheduler`` compressed into the search's ``iters`` iterations.

    The search's iterations stand for the config's whole training (``train_cfg.max_epochs`` epochs
    or ``max_iters`` iterations): every time argument (:data:`TIME_KEYS`) is scaled by ``iters``
    over that length, rounded to whole iterations, and each scheduler becomes iteration-based.
    A warm-up of 10 of 100 epochs thus takes the first tenth of the search, and a cosine decay the
    rest. A scheduler without ``end`` ends with training, as the runner makes it; a ``T_max`` equal
    to ``end - begin`` is dropped (mmengine's default), so that a decay still ends exactly at its
    scaled ``end``; every scheduler spans at least one iteration. Iteration-based schedulers of an
    epoch-based loop are scaled by ``max_epochs * iters_per_epoch``.

    Args:
        cfg (Config): The searched config (``param_scheduler``, ``train_cfg``).
        iters (int): The search's training iterations.
        iters_per_epoch (int, optional): Iterations of one of the config's epochs, for
            iteration-based schedulers under ``max_epochs``. Defaults to None.

    Returns:
        list[dict]: Scheduler configs for ``PARAM_SCHEDULERS.build``, without ``optimizer``.
    """
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    train_cfg = cfg.get('train_cfg') or {}
    out = []
    for sched in schedulers:
        sched = copy.deepcopy(dict(sched))
        by_epoch = sched.pop('by_epoch', True)
        sched.pop('convert_to_iter_based', None)
        total = train_cfg.get('max_epochs' if by_epoch else 'max_iters')
        if not total and not by_epoch and train_cfg.get('max_epochs') and iters_per_epoch:
            total = train_cfg['max_epochs'] * iters_per_epoch
        if not total:
            raise ValueError(
                f"Cannot compress scheduler {sched['type']} (by_epoch={by_epoch}) into the search: "
                f"train_cfg has no {'max_epochs' if by_epoch else 'max_iters'} to scale it by.")
        scale = iters / total
        sched.setdefault('end', total)  # the runner's default: the end of training
        if sched.get('T_max') is not None and \
                sched['T_max'] == sched['end'] - sched.get('begin', 0):
            sched.pop('T_max')
        for key in TIME_KEYS:
            value = sched.get(key)
            if isinstance(value, (list, tuple)):
                sched[key] = [round(v * scale) for v in value]
            elif value is not None:
                sched[key] = round(value * scale)
        sched['begin'] = min(sched.get('begin', 0), iters - 1)
        sched['end'] = max(sched['end'], sched['begin'] + 1)
        for key in ('T_max', 'step_size'):
            if key in sched:
                sched[key] = max(sched[key], 1)
        out.append(dict(sched, by_epoch=False))
    return out


def build_search_optim(cfg,
                       model,
                       iters: int,
                       lr: Optional[float] = None,
                       iters_per_epoch: Optional[int] = None):
    """The config's optimizer wrapper and compressed schedulers for ``model``.

    Built by mmengine from ``cfg.optim_wrapper`` (optimizer, constructor, ``paramwise_cfg``,
    clipping) in full precision (:data:`FULL_PRECISION`), with ``lr`` in place of the config's
    learning rate when given, and from :func:`search_schedule`.

    Returns:
        tuple: The optimizer wrapper and the list of parameter schedulers.
    """
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    if wrapper_cfg.get('type') in FULL_PRECISION:
        wrapper_cfg['type'] = FULL_PRECISION[wrapper_cfg['type']]
        for key in ('dtype', 'loss_scale'):
            wrapper_cfg.pop(key, None)
    if lr is not None:
        wrapper_cfg['optimizer']['lr'] = lr
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    wrapper.initialize_count_status(model, 0, iters)
    schedulers = [
        PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=wrapper))
        for s in search_schedule(cfg, iters, iters_per_epoch)
    ]
    return wrapper, schedulers


def heldout_batch(dataset, indices: Sequence[int], views_per_image: int,
                  preprocessor) -> torch.Tensor:
    """Fixed evaluation images: the global crops of ``views_per_image`` draws of each image."""
    data = [dataset[i] for i in indices for _ in range(views_per_image)]
    inputs = preprocessor(default_collate(data), False)['inputs']
    if isinstance(inputs, torch.Tensor):
        # A batch-side multi-crop preprocessor crops only when training: draw its crops.
        inputs = preprocessor(default_collate(data), True)['inputs']
    size = inputs[0].shape[-2:]
    return torch.cat([x for x in inputs if x.shape[-2:] == size])


def evaluate(model, images: torch.Tensor) -> Dict[str, Dict[str, float]]:
    """Both discrepancy measures of every candidate on ``images`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    out = {name: discrepancy_measures(**o) for name, o in model.outputs(images).items()}
    model.train(was_training)
    return out


def run_search(cfg,
               candidates: Sequence,
               iters: int = 50,
               seed: int = 0,
               batch_size: Optional[int] = None,
               lr: Optional[float] = None,
               heldout: int = 4,
               views_per_image: int = 4,
               eval_interval: Optional[int] = None,
               progress: bool = True) -> dict:
    """Train all candidates jointly on ``cfg``'s training images and score them without labels.

    The training follows the config: its loss (per candidate), its optimizer wrapper (optimizer,
    parameter groups, clipping; full precision) and its parameter schedulers compressed into
    ``iters`` (:func:`search_schedule`).

    Args:
        cfg (Config): An HSSL config (base, projector, ``train_dataloader``).
        candidates (Sequence[str | dict]): Names of :data:`CANDIDATES` or neck config snippets.
        iters (int): Training iterations. Defaults to 50.
        seed (int): Seed of initialisation, held-out split, augmentation and batches.
        batch_size (int, optional): Defaults to the config's.
        lr (float, optional): Learning rate of the config's optimizer. Defaults to the config's
            (as in the runner, not rescaled by ``auto_scale_lr``).
        heldout (int): Images held out of training and used for scoring. Defaults to 4.
        views_per_image (int): Random draws of each held-out image. Defaults to 4.
        eval_interval (int, optional): Iterations between measurements. Defaults to iters // 10.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: ``ranking`` (best first), ``candidates`` (per name: score, measures, history,
        params, snippet), ``skipped`` (name -> reason), ``loss`` and ``optimizer`` (class
        names), ``schedule`` (the compressed schedulers), timings and settings; also ``model``
        and ``optim_wrapper``, left out of :func:`to_json`.
    """
    set_random_seed(seed)
    specs = dict(resolve_candidate(c) for c in candidates)
    model = build_search_model(cfg, specs)
    loaded = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    dataset = base_dataset(loaded)
    n = len(dataset)
    if n < heldout + 1:
        raise ValueError(f'The search needs more than heldout={heldout} images; the dataset has '
                         f'{n}. Add images or lower --heldout.')
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    held, train_idx = order[:heldout], order[heldout:]
    images = heldout_batch(dataset, held, views_per_image, model.data_preprocessor)
    batch_size = batch_size or cfg.train_dataloader.batch_size
    # The config's iterations per epoch (its whole dataset at its batch size, as the runner's
    # loader): the length that iteration-based schedulers of an epoch loop are written in.
    iters_per_epoch = math.ceil(len(loaded) / cfg.train_dataloader.batch_size)
    optim_wrapper, schedulers = build_search_optim(cfg, model, iters, lr, iters_per_epoch)
    lr = cfg.optim_wrapper.optimizer.get('lr') if lr is None else lr
    eval_interval = eval_interval or max(1, iters // 10)
    gen = torch.Generator().manual_seed(seed + 1)
    history = {name: [] for name in model.names}

    def record(it):
        for name, m in evaluate(model, images).items():
            history[name].append(dict(iter=it, **m))

    record(0)
    score = 'ce' if history[model.names[0]][0]['ce'] is not None else 'cka_distance'
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(1, iters + 1), desc='search', disable=not progress, dynamic_ncols=True)
    for it in bar:
        pick = torch.randint(len(train_idx), (batch_size, ), generator=gen).tolist()
        data = model.data_preprocessor(default_collate([dataset[train_idx[i]] for i in pick]), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        optim_wrapper.update_params(total)
        if optim_wrapper.should_update() and not getattr(optim_wrapper, 'last_step_skipped', False):
            model.update_teacher()  # after each step taken, as the schedule hook does
        for sched in schedulers:
            sched.step()
        bar.set_postfix(loss=f'{total.item():.3f}')
        if it % eval_interval == 0 or it == iters:
            record(it)
    train_s = time.perf_counter() - start

    results = {}
    for name, key in model.keys():
        final = history[name][-1]
        results[name] = dict(
            score=final[score],
            ce=final['ce'],
            cka_distance=final['cka_distance'],
            params=sum(p.numel() for p in model.necks[key].parameters()),
            history=history[name],
            neck=model.configs[name],
            snippet=neck_snippet(model.configs[name]))
    ranking = sorted(results, key=lambda k: (-results[k]['score'], k))
    return dict(
        ranking=ranking,
        winner=ranking[0],
        snippet=results[ranking[0]]['snippet'],
        rule=RULES[score],
        candidates=results,
        skipped=model.skipped,
        loss=type(next(iter(model.losses.values()))).__name__,
        optimizer=type(optim_wrapper.optimizer).__name__,
        schedule=search_schedule(cfg, iters, iters_per_epoch),
        iters=iters,
        seed=seed,
        batch_size=batch_size,
        lr=lr,
        heldout_images=len(held),
        heldout_views=int(images.shape[0]),
        train_seconds=round(train_s, 1),
        seconds_per_iter=round(train_s / max(iters, 1), 3),
        seconds_per_candidate=round(train_s / len(model.names), 1),
        model=model,
        optim_wrapper=optim_wrapper)


def format_table(result: dict) -> str:
    """The ranked table printed by the tool."""
    lines = [f"{'rank':>4}  {'candidate':<40} {'CE':>10} {'1-CKA':>7} {'params':>9}"]
    for i, name in enumerate(result['ranking'], 1):
        r = result['candidates'][name]
        ce = 'n/a' if r['ce'] is None else f"{r['ce']:.4f}"
        lines.append(f"{i:>4}  {name:<40} {ce:>10} {r['cka_distance']:>7.4f} "
                     f"{r['params']:>9,}")
    for name, why in result['skipped'].items():
        lines.append(f"   -  {name:<40} skipped: {why}")
    return '\n'.join(lines)


def plot_history(result: dict, path: str) -> None:
    """PNG of both measures per candidate over the short schedule."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in result['ranking']:
        hist = result['candidates'][name]['history']
        its = [h['iter'] for h in hist]
        if hist[0]['ce'] is not None:  # None: the objective has no distillation CE
            axes[0].plot(its, [h['ce'] for h in hist], marker='.', label=name)
        axes[1].plot(its, [h['cka_distance'] for h in hist], marker='.', label=name)
    axes[0].set_title('held-out distillation CE (teacher aux -> student base)')
    axes[1].set_title('held-out 1 - linear CKA (base vs aux)')
    for ax in axes:
        ax.set_xlabel('iteration')
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def to_json(result: dict) -> dict:
    """The JSON-serialisable part of a search result."""
    return {k: v for k, v in result.items() if k not in ('model', 'optim_wrapper')}
