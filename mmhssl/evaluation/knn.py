"""Weighted k-nearest-neighbour classification on frozen features (the DINO protocol)."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F


def _check(train_feats, train_labels, test_feats) -> None:
    if train_feats.dim() != 2 or test_feats.dim() != 2:
        raise ValueError(f'Features must be (N, D); got {tuple(train_feats.shape)} and '
                         f'{tuple(test_feats.shape)}.')
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f'Train features have {train_feats.shape[1]} dims but test features have '
                         f'{test_feats.shape[1]}.')
    if len(train_feats) != len(train_labels):
        raise ValueError(f'{len(train_feats)} train features but {len(train_labels)} labels.')
    if len(train_feats) == 0:
        raise ValueError('kNN needs at least one train feature.')


@torch.no_grad()
def knn_scores(train_feats: torch.Tensor,
               train_labels: torch.Tensor,
               test_feats: torch.Tensor,
               num_classes: Optional[int] = None,
               k: int = 20,
               temperature: float = 0.07,
               chunk_size: int = 1024) -> torch.Tensor:
    """Class scores of each test feature from its ``k`` most similar train features.

    Features are L2-normalised; each of the ``k`` nearest train features (by cosine similarity
    ``s``) votes for its label with weight ``exp(s / temperature)``.

    Args:
        train_feats (torch.Tensor): ``(N, D)`` memory bank.
        train_labels (torch.Tensor): ``(N,)`` integer labels.
        test_feats (torch.Tensor): ``(M, D)`` queries.
        num_classes (int, optional): Defaults to ``max(train_labels) + 1``.
        k (int): Neighbours (capped at ``N``). Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        chunk_size (int): Queries per similarity block, to bound memory. Defaults to 1024.

    Returns:
        torch.Tensor: ``(M, num_classes)`` summed vote weights.
    """
    _check(train_feats, train_labels, test_feats)
    if k < 1 or temperature <= 0:
        raise ValueError(f'k must be >= 1 and temperature > 0, got k={k}, '
                         f'temperature={temperature}.')
    train_labels = train_labels.long().to(train_feats.device)
    num_classes = num_classes or int(train_labels.max()) + 1
    bank = F.normalize(train_feats.float(), dim=1)
    k = min(k, len(bank))
    scores = []
    for chunk in F.normalize(test_feats.float(), dim=1).split(chunk_size):
        sim, idx = (chunk.to(bank.device) @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(chunk), num_classes, device=bank.device)
        votes.scatter_add_(1, train_labels[idx], (sim / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                  topk: Sequence[int] = (1, 5)) -> Dict[str, Optional[float]]:
    """Top-k accuracies in percent; ``None`` when ``k`` is not smaller than the number of classes.

    Args:
        scores (torch.Tensor): ``(M, C)`` class scores.
        labels (torch.Tensor): ``(M,)`` true labels.
        topk (Sequence[int]): Defaults to ``(1, 5)``.

    Returns:
        dict: ``{'top1': ..., 'top5': ...}``.
    """
    if len(scores) != len(labels):
        raise ValueError(f'{len(scores)} predictions but {len(labels)} labels.')
    labels = labels.long().to(scores.device)
    out = {}
    for k in topk:
        if k > 1 and k >= scores.shape[1]:
            out[f'top{k}'] = None  # trivially 100 %
            continue
        hit = (scores.topk(k, dim=1).indices == labels[:, None]).any(1)
        out[f'top{k}'] = 100.0 * hit.float().mean().item()
    return out


def knn_accuracy(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 num_classes: Optional[int] = None,
                 k: int = 20,
                 temperature: float = 0.07) -> Dict[str, Optional[float]]:
    """Weighted kNN top-1/top-5 accuracy (percent) of ``test_feats`` against a memory bank.

    Args:
        train_feats, train_labels, test_feats: See :func:`knn_scores`.
        test_labels (torch.Tensor): ``(M,)`` true labels of the queries.
        num_classes (int, optional): Defaults to the largest label + 1 of both sets.
        k (int): Defaults to 20.
        temperature (float): Defaults to 0.07.

    Returns:
        dict: ``top1``, ``top5`` (``None`` with 5 classes or fewer), ``k``, ``temperature``,
        ``num_train``, ``num_test``.
    """
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_scores(train_feats, train_labels, test_feats, num_classes, k, temperature)
    result = topk_accuracy(scores, test_labels)
    result.update(
        k=min(k, len(train_feats)),
        temperature=temperature,
        num_train=len(train_feats),
        num_test=len(test_feats))
    return result
