"""How multi-crop views are split into global/local views and batched by size."""
from typing import List, Sequence

import torch


def count_global_views(views: Sequence[torch.Tensor]) -> int:
    """Number of views with the size of the first one: the global crops, which come first.

    Args:
        views (Sequence[Tensor]): Views ``(B, C, H, W)``, global views first.

    Returns:
        int: How many views share the first view's spatial size.
    """
    return sum(1 for x in views if x.shape[-2:] == views[0].shape[-2:])


def group_by_size(views: Sequence[torch.Tensor], separate: bool = False) -> List[List[int]]:
    """Indices of consecutive views of the same spatial size, to encode each group in one pass.

    Args:
        views (Sequence[Tensor]): Views ``(B, C, H, W)``.
        separate (bool): One group per view (objectives with per-view batch statistics).
            Defaults to False.

    Returns:
        list[list[int]]: The groups, in order.
    """
    groups: List[List[int]] = []
    for i, x in enumerate(views):
        if groups and not separate and x.shape[-2:] == views[groups[-1][0]].shape[-2:]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
