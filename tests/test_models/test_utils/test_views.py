import torch

from mmhssl.models.utils import count_global_views, group_by_size


def test_views_are_grouped_by_consecutive_size_and_globals_counted():
    views = [torch.zeros(2, 3, s, s) for s in (32, 32, 16, 16, 16)]
    assert count_global_views(views) == 2
    assert group_by_size(views) == [[0, 1], [2, 3, 4]]
    assert group_by_size(views, separate=True) == [[0], [1], [2], [3], [4]]
    # Only neighbours are batched: a size that comes back starts a new group.
    assert group_by_size(views[:3] + views[:1]) == [[0, 1], [2], [3]]
