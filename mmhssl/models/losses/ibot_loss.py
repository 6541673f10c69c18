"""DINO's centred CLS self-distillation loss, and iBOT's, which adds a masked-patch term."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class DINOLoss(BaseModule):
    """DINO's multi-crop CLS self-distillation with a centred, sharpened teacher.

    Every student view ``v`` (global and local crops) learns from every teacher global view
    ``q != v``, averaged over those pairs. Several student branches (HSSL's base and auxiliary CLS)
    can share the same teacher targets; the weight ``lambda_cls`` is split evenly among them. The
    teacher logits are centred by an EMA (``center_momentum``) of their batch mean, all-reduced
    across ranks and updated after the loss; the teacher temperature is set by a schedule hook.

    Which student output learns from which teacher output is decided by the algorithm
    (:class:`~mmhssl.models.HSSLAlgorithm`); this module only holds the maths.

    Args:
        out_channels (int): Number of prototypes.
        student_temp (float): Student temperature. Defaults to 0.1.
        center_momentum (float): Center EMA momentum. Defaults to 0.9.
        lambda_cls (float): Weight of the CLS term. Defaults to 1.0.
        teacher_temp (float): Teacher temperature until a schedule sets it. Defaults to 0.07.
    """

    #: Whether the objective has a masked-patch term (the algorithm then needs maskable bases).
    with_patch = False
    #: Whether views must be encoded one by one (batch statistics per view); False: batched.
    separate_views = False

    def __init__(self,
                 out_channels: int,
                 student_temp: float = 0.1,
                 center_momentum: float = 0.9,
                 lambda_cls: float = 1.0,
                 teacher_temp: float = 0.07) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.lambda_cls = lambda_cls
        self.teacher_temp = teacher_temp
        self.register_buffer('cls_center', torch.zeros(1, out_channels))
        #: Set by the schedule hook in training: it applies the statistics once per optimizer step
        #: (k accumulated micro-batches equal one k-times larger batch) or drops those of a
        #: skipped step.
        self.defer_center_update = False
        #: Per center name, ``[sum of teacher logits, number of images]`` of this rank since the
        #: last center update (saved with a checkpoint written inside an accumulation window).
        self.pending_center: Dict[str, List[torch.Tensor]] = {}

    @torch.no_grad()
    def teacher_targets(self, logits: torch.Tensor, center: torch.Tensor,
                        temp: float) -> torch.Tensor:
        """Centred, sharpened teacher probabilities (computed in float32)."""
        return F.softmax((logits.float() - center) / temp, dim=-1)

    def forward(self,
                student_cls: Dict[str, List[torch.Tensor]],
                teacher_cls: List[torch.Tensor],
                student_patch: Optional[List[torch.Tensor]] = None,
                **kwargs) -> Dict[str, torch.Tensor]:
        """Compute the CLS losses and update the center.

        Args:
            student_cls (dict[str, list[Tensor]]): Per student branch (e.g. ``base``, ``aux``), the
                CLS logits ``(B, K)`` of every view, global views first.
            teacher_cls (list[Tensor]): Teacher CLS logits ``(B, K)`` of the global views.
            student_patch (list[Tensor], optional): Must be None: there is no patch term.

        Returns:
            dict[str, Tensor]: ``loss_cls_<branch>`` for each branch.
        """
        if student_patch is not None:
            raise ValueError(f'{type(self).__name__} has no patch term; use IBOTLoss for masked '
                             'image modeling.')
        losses = self.cls_loss(student_cls, teacher_cls)
        if not self.defer_center_update:
            self.apply_pending_center()
        return losses

    def cls_loss(self, student_cls: Dict[str, List[torch.Tensor]],
                 teacher_cls: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The cross-view CLS terms; collects the teacher's batch statistics for the center."""
        losses = {}
        t_cls = [self.teacher_targets(t, self.cls_center, self.teacher_temp) for t in teacher_cls]
        weight = self.lambda_cls / len(student_cls)
        for name, views in student_cls.items():
            total, n_terms = 0., 0
            for v, s in enumerate(views):
                log_p = F.log_softmax(s.float() / self.student_temp, dim=-1)
                for q, t in enumerate(t_cls):
                    if q == v:
                        continue
                    total = total + torch.sum(-t * log_p, dim=-1).mean()
                    n_terms += 1
            if n_terms == 0:
                raise ValueError(f'{type(self).__name__}: the CLS term needs at least two views.')
            losses[f'loss_cls_{name}'] = weight * total / n_terms
        cls = torch.cat(teacher_cls).detach().float()
        self._collect('cls_center', cls.sum(dim=0, keepdim=True), cls.shape[0])
        return losses

    @torch.no_grad()
    def _collect(self, name: str, total: torch.Tensor, count: int) -> None:
        """Add one batch's sum of teacher logits (over ``count`` images) for center ``name``."""
        count = torch.tensor([float(count)], device=total.device)
        if name in self.pending_center:
            self.pending_center[name][0].add_(total)
            self.pending_center[name][1].add_(count)
        else:
            self.pending_center[name] = [total, count]

    @torch.no_grad()
    def apply_pending_center(self) -> None:
        """Fold the collected batch means into the centers (all ranks together)."""
        for name, (total, count) in self.pending_center.items():
            all_reduce(total)
            all_reduce(count)
            center = getattr(self, name)
            center.mul_(self.center_momentum).add_(total / count * (1 - self.center_momentum))
        self.pending_center = {}

    def discard_pending_center(self) -> None:
        """Forget the batch means of a step that was skipped."""
        self.pending_center = {}


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
            student_patch (list[Tensor], optional): Student patch logits ``(B, N, K)`` of the global
                views. Defaults to None (no MIM term).
            teacher_patch (list[Tensor], optional): Teacher patch logits of the global views.
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
            t_p = self.teacher_targets(t, self.patch_center, self.teacher_patch_temp)
            ce = torch.sum(-t_p * F.log_softmax(s.float() / self.student_temp, dim=-1), dim=-1)
            m = m.flatten(1).float()
            total = total + (torch.sum(ce * m, dim=-1) / m.sum(dim=-1).clamp(min=1.0)).mean()
        patch = torch.cat(teacher_patch).detach().float()
        self._collect('patch_center',
                      patch.mean(dim=1).sum(dim=0, keepdim=True).unsqueeze(0), patch.shape[0])
        return self.lambda_patch * total / len(student_patch)
