"""DINO's centred, sharpened CLS self-distillation loss."""
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
