"""Linear probe on frozen features with a small learning-rate sweep."""
import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from .knn import topk_accuracy


def train_linear(feats: torch.Tensor,
                 labels: torch.Tensor,
                 num_classes: int,
                 lr: float,
                 epochs: int = 50,
                 batch_size: int = 256,
                 weight_decay: float = 0.0,
                 momentum: float = 0.9,
                 seed: int = 0) -> torch.nn.Linear:
    """SGD with momentum and a cosine learning rate on a zero-initialised linear layer.

    Zero initialisation and a private generator for the shuffling make the result a function of
    the inputs and ``seed`` only, and leave the global random streams untouched.

    Args:
        feats (torch.Tensor): ``(N, D)`` (standardised) features.
        labels (torch.Tensor): ``(N,)`` labels.
        num_classes (int): Output classes.
        lr (float): Peak learning rate.
        epochs (int): Defaults to 50.
        batch_size (int): Defaults to 256.
        weight_decay (float): Defaults to 0.
        momentum (float): Defaults to 0.9.
        seed (int): Shuffling seed. Defaults to 0.

    Returns:
        torch.nn.Linear: The trained classifier.
    """
    # skip_init: nn.Linear's default init would draw from the global generator.
    head = torch.nn.utils.skip_init(
        torch.nn.Linear, feats.shape[1], num_classes, device=feats.device)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    optim = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(feats) / batch_size)
    total, step = epochs * steps_per_epoch, 0
    labels = labels.long()
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(feats), generator=gen).to(feats.device)
            for idx in order.split(batch_size):
                for group in optim.param_groups:
                    group['lr'] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
                loss = F.cross_entropy(head(feats[idx]), labels[idx])
                optim.zero_grad()
                loss.backward()
                optim.step()
                step += 1
    return head.eval()


def linear_probe(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 num_classes: Optional[int] = None,
                 lrs: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
                 epochs: int = 50,
                 batch_size: int = 256,
                 weight_decay: float = 0.0,
                 val_fraction: float = 0.1,
                 seed: int = 0) -> Dict:
    """Linear classification accuracy of frozen features.

    Features are standardised with the train statistics. The learning rate is chosen on a held-out
    ``val_fraction`` of the train set (never on the test set); the classifier is then retrained on
    the whole train set with that rate and evaluated once on the test set.

    Args:
        train_feats (torch.Tensor): ``(N, D)``.
        train_labels (torch.Tensor): ``(N,)``.
        test_feats (torch.Tensor): ``(M, D)``.
        test_labels (torch.Tensor): ``(M,)``.
        num_classes (int, optional): Defaults to the largest label + 1.
        lrs (Sequence[float]): Learning rates to try. Defaults to ``(0.001, 0.01, 0.1, 1.0)``.
        epochs (int): Defaults to 50.
        batch_size (int): Defaults to 256.
        weight_decay (float): Defaults to 0.
        val_fraction (float): Part of the train set held out to choose the rate. Defaults to 0.1.
        seed (int): Seed of the split and the shuffling. Defaults to 0.

    Returns:
        dict: ``top1``, ``top5`` (test, percent; ``top5`` is ``None`` with 5 classes or fewer),
        ``lr`` (chosen), ``lr_at_sweep_edge`` (the chosen rate is the smallest or largest tried),
        ``val_top1`` (per rate), ``epochs``, ``num_train``, ``num_test``.
    """
    if len(train_feats) != len(train_labels) or len(test_feats) != len(test_labels):
        raise ValueError('Features and labels differ in length.')
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}.')
    if not lrs:
        raise ValueError('lrs must name at least one learning rate.')
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    mean = train_feats.float().mean(0)
    std = train_feats.float().std(0).clamp(min=1e-6)
    train_x, test_x = (train_feats.float() - mean) / std, (test_feats.float() - mean) / std
    train_y, test_y = train_labels.long(), test_labels.long()

    perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(val_fraction * len(train_x))))
    val_idx, fit_idx = perm[:n_val], perm[n_val:]
    val_top1 = {}
    for lr in lrs:
        head = train_linear(
            train_x[fit_idx],
            train_y[fit_idx],
            num_classes,
            lr,
            epochs,
            batch_size,
            weight_decay,
            seed=seed)
        with torch.no_grad():
            val_top1[lr] = topk_accuracy(head(train_x[val_idx]), train_y[val_idx], (1, ))['top1']
    best = max(lrs, key=lambda lr: (val_top1[lr], -lr))  # ties: the smaller rate
    head = train_linear(
        train_x, train_y, num_classes, best, epochs, batch_size, weight_decay, seed=seed)
    with torch.no_grad():
        result = topk_accuracy(head(test_x), test_y)
    # A rate at the end of the sweep suggests that a wider sweep would do better.
    at_edge = len(lrs) > 1 and best in (min(lrs), max(lrs))
    result.update(
        lr=best,
        lr_at_sweep_edge=at_edge,
        val_top1={
            str(k): v
            for k, v in val_top1.items()
        },
        epochs=epochs,
        num_train=len(train_x),
        num_test=len(test_x))
    return result
