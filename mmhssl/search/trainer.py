"""The short joint training and label-free scoring behind ``tools/search_aux_head.py``."""
import copy
import time
from typing import Dict, Optional, Sequence

import torch
from mmengine.dataset import default_collate
from mmengine.runner import set_random_seed
from mmpretrain.registry import DATASETS, MODELS
from tqdm import tqdm

from ..models.utils import init_weights_quietly
from .candidates import neck_snippet, resolve_candidate
from .discrepancy import discrepancy_measures

#: Ranking rule: the paper finds the base improves as the base/aux discrepancy grows, so the
#: candidate with the LARGEST held-out distillation cross-entropy ranks first.
SCORE = 'ce'


def base_dataset(dataset):
    while hasattr(dataset, 'dataset'):  # unwrap RepeatDataset / ConcatDataset-like wrappers
        dataset = dataset.dataset
    return dataset


def build_search_model(cfg, candidates: Dict[str, dict], momentum: float = 0.99,
                       teacher_temp: float = 0.04):
    """A :class:`~mmhssl.models.MultiAuxSearch` from an HSSL config's base and projector."""
    model_cfg = cfg.model
    head = copy.deepcopy(dict(model_cfg.head))
    head['type'] = head.get('type', 'HSSLProjector')
    head.pop('with_aux', None)
    loss = dict(type='DINOLoss', out_channels=head['out_channels'], teacher_temp=teacher_temp)
    model = MODELS.build(dict(type='MultiAuxSearch', backbone=copy.deepcopy(model_cfg.backbone),
                              head=head, loss=loss, candidates=candidates,
                              aux_input=model_cfg.get('aux_input'), base_momentum=momentum,
                              data_preprocessor=copy.deepcopy(model_cfg.get('data_preprocessor'))))
    init_weights_quietly(model)
    return model


def heldout_batch(dataset, indices: Sequence[int], views_per_image: int,
                   preprocessor) -> torch.Tensor:
    """Fixed evaluation images: the global crops of ``views_per_image`` draws of each image."""
    data = [dataset[i] for i in indices for _ in range(views_per_image)]
    inputs = preprocessor(default_collate(data), False)['inputs']
    size = inputs[0].shape[-2:]
    return torch.cat([x for x in inputs if x.shape[-2:] == size])


def evaluate(model, images: torch.Tensor) -> Dict[str, Dict[str, float]]:
    """Both discrepancy measures of every candidate on ``images`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    out = {name: discrepancy_measures(**o) for name, o in model.outputs(images).items()}
    model.train(was_training)
    return out


def run_search(cfg, candidates: Sequence, iters: int = 50, seed: int = 0,
               batch_size: Optional[int] = None, lr: Optional[float] = None,
               heldout: int = 4, views_per_image: int = 4, eval_interval: Optional[int] = None,
               progress: bool = True) -> dict:
    """Train all candidates jointly on ``cfg``'s training images and score them without labels.

    Args:
        cfg (Config): An HSSL config (base, projector, ``train_dataloader``).
        candidates (Sequence[str | dict]): Names of :data:`CANDIDATES` or neck config snippets.
        iters (int): Training iterations. Defaults to 50.
        seed (int): Seed of initialisation, held-out split, augmentation and batches.
        batch_size (int, optional): Defaults to the config's.
        lr (float, optional): AdamW learning rate. Defaults to the config's.
        heldout (int): Images held out of training and used for scoring. Defaults to 4.
        views_per_image (int): Random draws of each held-out image. Defaults to 4.
        eval_interval (int, optional): Iterations between measurements. Defaults to iters // 10.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: ``ranking`` (best first), ``candidates`` (per name: score, measures, history,
        params, snippet), ``skipped`` (name -> reason), timings and settings.
    """
    set_random_seed(seed)
    specs = dict(resolve_candidate(c) for c in candidates)
    model = build_search_model(cfg, specs)
    dataset = base_dataset(DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset)))
    n = len(dataset)
    if n < heldout + 1:
        raise ValueError(f'The search needs more than heldout={heldout} images; the dataset has '
                         f'{n}. Add images or lower --heldout.')
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    held, train_idx = order[:heldout], order[heldout:]
    images = heldout_batch(dataset, held, views_per_image, model.data_preprocessor)
    batch_size = batch_size or cfg.train_dataloader.batch_size
    lr = lr or cfg.optim_wrapper.optimizer.get('lr', 5e-4)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.04)
    warmup = max(1, iters // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda i: min(1.0, (i + 1) / warmup))
    eval_interval = eval_interval or max(1, iters // 10)
    gen = torch.Generator().manual_seed(seed + 1)
    history = {name: [] for name in model.names}

    def record(it):
        for name, m in evaluate(model, images).items():
            history[name].append(dict(iter=it, **m))

    record(0)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(1, iters + 1), desc='search', disable=not progress, dynamic_ncols=True)
    for it in bar:
        pick = torch.randint(len(train_idx), (batch_size, ), generator=gen).tolist()
        data = model.data_preprocessor(default_collate([dataset[train_idx[i]] for i in pick]), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 3.0)
        optim.step()
        model.update_teacher()  # after the step, as in the runner
        sched.step()
        bar.set_postfix(loss=f'{total.item():.3f}')
        if it % eval_interval == 0 or it == iters:
            record(it)
    train_s = time.perf_counter() - start

    results = {}
    for name, key in model.keys():
        final = history[name][-1]
        results[name] = dict(
            score=final[SCORE], ce=final['ce'], cka_distance=final['cka_distance'],
            params=sum(p.numel() for p in model.necks[key].parameters()),
            history=history[name], neck=model.configs[name],
            snippet=neck_snippet(model.configs[name]))
    ranking = sorted(results, key=lambda k: (-results[k]['score'], k))
    return dict(ranking=ranking, winner=ranking[0], snippet=results[ranking[0]]['snippet'],
                rule=f'largest held-out {SCORE} (teacher-aux -> student-base distillation '
                     'cross-entropy) first',
                candidates=results, skipped=model.skipped, iters=iters, seed=seed,
                batch_size=batch_size, lr=lr, heldout_images=len(held),
                heldout_views=int(images.shape[0]), train_seconds=round(train_s, 1),
                seconds_per_iter=round(train_s / max(iters, 1), 3),
                seconds_per_candidate=round(train_s / len(model.names), 1), model=model)


def format_table(result: dict) -> str:
    """The ranked table printed by the tool."""
    lines = [f"{'rank':>4}  {'candidate':<40} {'CE (score)':>10} {'1-CKA':>7} {'params':>9}"]
    for i, name in enumerate(result['ranking'], 1):
        r = result['candidates'][name]
        lines.append(f"{i:>4}  {name:<40} {r['ce']:>10.4f} {r['cka_distance']:>7.4f} "
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
    return {k: v for k, v in result.items() if k != 'model'}
