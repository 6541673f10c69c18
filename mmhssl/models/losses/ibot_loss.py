"""iBOT's loss: DINO's CLS term plus a masked-patch term with its own center."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from .dino_loss import DINOLoss


@MODELS.register_module()
class IBOTLoss(DINOLoss):
    """iBOT's loss: :class:`DINOLoss`'s CLS term plus a masked-patch (MIM) term with its own center.

    The student patch tokens of a masked global view learn from the teacher patch tokens of the
    same, unmasked view, averaged over the masked positions of each image, then over images and
    views. Images without masked patches contribute 0 but count in the mean. The patch center is
    an EMA of the teacher's mean patch logits, like the CLS center.

    Args:
        out_channels (int): Number of CLS prototypes.
        patch_out_channels (int, optional): Number of patch prototypes. Defaults to
            ``out_channels``.
        student_temp (float): Student temperature. Defaults to 0.1.
        center_momentum (float): Center EMA momentum. Defaults to 0.9.
        lambda_cls (float): Weight of the CLS term. Defaults to 1.0.
        lambda_patch (float): Weight of the patch term. Defaults to 1.0.
        teacher_temp (float): Teacher CLS temperature until a schedule sets it. Defaults to 0.07.
        teacher_patch_temp (float): Teacher patch temperature until a schedule sets it.
            Defaults to 0.07.
    """

    with_patch = True

    def __init__(self,
                 out_channels: int,
                 patch_out_channels: Optional[int] = None,
                 student_temp: float = 0.1,
                 center_momentum: float = 0.9,
                 lambda_cls: float = 1.0,
                 lambda_patch: float = 1.0,
                 teacher_temp: float = 0.07,
                 teacher_patch_temp: float = 0.07) -> None:
        super().__init__(
            out_channels,
            student_temp=student_temp,
            center_momentum=center_momentum,
            lambda_cls=lambda_cls,
            teacher_temp=teacher_temp)
        self.lambda_patch = lambda_patch
        self.teacher_patch_temp = teacher_patch_temp
        self.register_buffer('patch_center', torch.zeros(1, 1, patch_out_channels or out_channels))

    def forward(self,
                student_cls: Dict[str, List[torch.Tensor]],
                teacher_cls: List[torch.Tensor],
                student_patch: Optional[List[torch.Tensor]] = None,
                teacher_patch: Optional[List[torch.Tensor]] = None,
                masks: Optional[List[torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """Compute the losses and update the centers.

        Args:
            student_cls (dict[str, list[Tensor]]): See :meth:`DINOLoss.forward`.
            teacher_cls (list[Tensor]): See :meth:`DINOLoss.forward`.
            student_patch (list[Tensor], optional): Per global view, the student logits ``(M, K)``
                of its masked patch tokens only (``tokens[mask]``, row-major). Defaults to None
                (no MIM term).
            teacher_patch (list[Tensor], optional): Teacher logits ``(B, N, K)`` of all patch
                tokens of the global views (the center is their mean).
            masks (list[Tensor], optional): Boolean ``(B, N)`` masks of the global views.

        Returns:
            dict[str, Tensor]: ``loss_cls_<branch>`` for each branch and ``loss_mim`` when patches
            are given; their sum is the training loss.
        """
        losses = self.cls_loss(student_cls, teacher_cls)
        if student_patch is not None:
            losses['loss_mim'] = self.patch_loss(student_patch, teacher_patch, masks)
        if not self.defer_center_update:
            self.apply_pending_center()
        return losses

    def patch_loss(self, student_patch: List[torch.Tensor], teacher_patch: List[torch.Tensor],
                   masks: List[torch.Tensor]) -> torch.Tensor:
        """The masked-patch term; collects the teacher's batch statistics for its center."""
        total = 0.
        for s, t, m in zip(student_patch, teacher_patch, masks):
            m = m.flatten(1).bool()
            # Each masked token weighs 1 / (its image's masked count): per-image means, then the
            # mean over all images (those without masked tokens add 0).
            weight = (1.0 / m.sum(dim=-1).clamp(min=1).float())[:, None].expand_as(m)[m]
            if s.dim() != 2 or s.shape[0] != weight.shape[0]:
                raise ValueError(f'{type(self).__name__}: student_patch has shape '
                                 f'{tuple(s.shape)} but the masks have {weight.shape[0]} masked '
                                 'tokens; pass (masked tokens, K) logits, those of tokens[mask].')
            t_p = self.teacher_targets(t[m], self.patch_center[0], self.teacher_patch_temp)
            ce = torch.sum(-t_p * F.log_softmax(s.float() / self.student_temp, dim=-1), dim=-1)
            total = total + torch.sum(ce * weight) / m.shape[0]
        patch = torch.cat(teacher_patch).detach().float()
        self._collect('patch_center',
                      patch.mean(dim=1).sum(dim=0, keepdim=True).unsqueeze(0), patch.shape[0])
        return self.lambda_patch * total / len(student_patch)
