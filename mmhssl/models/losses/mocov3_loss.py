"""MoCo v3's symmetric InfoNCE loss with negatives gathered from all ranks."""
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MoCoV3Loss(BaseModule):
    """InfoNCE between student queries and momentum-encoder keys of the other views.

    For a query ``q`` (student, after the predictor) of view ``v`` and the keys ``k`` (teacher) of
    view ``u != v``, both L2-normalised, the logits are ``q @ k_all.T / temperature`` where
    ``k_all`` holds the keys of the whole global batch (gathered from every rank without gradient;
    keys never need one). The positive of image ``i`` is its own key, at row
    ``rank * B + i``. Each term is the cross-entropy times ``2 * temperature``, as MoCo v3.

    A branch's loss is the mean over its (query view, key view) pairs times 2, so that two views
    give MoCo v3's symmetric ``ctr(q1, k2) + ctr(q2, k1)``; several student branches (HSSL's base
    and auxiliary queries) share the same keys and split the weight ``lambda_nce`` evenly.

    Args:
        temperature (float): Softmax temperature: 0.2 for ViT bases (MoCo v3), 1.0 for ResNet.
            Defaults to 0.2.
        lambda_nce (float): Weight of the loss. Defaults to 1.0.
    """

    with_patch = False
    # MoCo v3 encodes each view in its own pass, so batch norms see one view at a time.
    separate_views = True

    def __init__(self, temperature: float = 0.2, lambda_nce: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'MoCoV3Loss: temperature must be positive, got {temperature}.')
        self.temperature = temperature
        self.lambda_nce = lambda_nce

    def contrast(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """InfoNCE of local queries ``(B, D)`` against gathered, normalised keys ``(W*B, D)``."""
        q = F.normalize(query.float(), dim=1)
        logits = q @ keys.t() / self.temperature
        labels = torch.arange(q.shape[0], device=q.device) + q.shape[0] * get_rank()
        return F.cross_entropy(logits, labels) * (2 * self.temperature)

    def forward(self, student_cls: Dict[str, List[torch.Tensor]],
                teacher_cls: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            student_cls (dict[str, list[Tensor]]): Per student branch, the queries ``(B, D)`` of
                every view, global views first.
            teacher_cls (list[Tensor]): The keys ``(B, D)`` of the global views.

        Returns:
            dict[str, Tensor]: ``loss_nce_<branch>`` for each branch.
        """
        with torch.no_grad():
            keys = [
                torch.cat(all_gather(F.normalize(k.float(), dim=1)), dim=0) for k in teacher_cls
            ]
        weight = self.lambda_nce / len(student_cls)
        losses = {}
        for name, views in student_cls.items():
            terms = [
                self.contrast(q, k) for v, q in enumerate(views) for u, k in enumerate(keys)
                if u != v
            ]
            if not terms:
                raise ValueError('MoCoV3Loss needs at least two views.')
            losses[f'loss_nce_{name}'] = weight * 2 * torch.stack(terms).mean()
        return losses
