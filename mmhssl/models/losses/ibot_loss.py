"""iBOT's self-distillation loss (CLS cross-view + masked patch) with centering, as one module."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class IBOTLoss(BaseModule):
    """Cross-entropy between sharpened, centred teacher distributions and student distributions.

    * CLS term: every student view ``v`` learns from every teacher global view ``q != v``; averaged
      over those pairs. Several student branches (HSSL's base and auxiliary CLS) can share the same
      teacher targets; the CLS weight ``lambda_cls`` is split evenly among them.
    * Patch (MIM) term: the student patch tokens of a masked global view learn from the teacher
      patch tokens of the same, unmasked view, averaged over the masked positions of each image,
      then over images and views. Images without masked patches contribute 0 but count in the mean.
    * Centering: the teacher logits are centred by EMAs (``center_momentum``) of their batch means,
      one for CLS and one for patches, all-reduced across ranks; updated after the loss, in
      :meth:`update_center` only.

    Which student output learns from which teacher output is decided by the algorithm
    (:class:`~mmhssl.models.HSSLAlgorithm`); this module only holds the maths. Without patch inputs
    it is DINO's loss (see :class:`DINOLoss`).

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

    #: Whether the objective has a masked-patch term (the algorithm then needs maskable bases).
    with_patch = True
    #: Whether views must be encoded one by one (batch statistics per view); False: batched.
    separate_views = False

    def __init__(self,
                 out_channels: int,
                 patch_out_channels: Optional[int] = None,
                 student_temp: float = 0.1,
                 center_momentum: float = 0.9,
                 lambda_cls: float = 1.0,
                 lambda_patch: float = 1.0,
                 teacher_temp: float = 0.07,
                 teacher_patch_temp: float = 0.07) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.lambda_cls = lambda_cls
        self.lambda_patch = lambda_patch
        self.teacher_temp = teacher_temp
        self.teacher_patch_temp = teacher_patch_temp
        self.register_buffer('cls_center', torch.zeros(1, out_channels))
        self.defer_center_update = False
        self._pending: dict = {}
        if self.with_patch:
            self.register_buffer('patch_center',
                                 torch.zeros(1, 1, patch_out_channels or out_channels))

    @torch.no_grad()
    def teacher_targets(self, logits: torch.Tensor, center: torch.Tensor,
                        temp: float) -> torch.Tensor:
        """Centred, sharpened teacher probabilities (computed in float32)."""
        return F.softmax((logits.float() - center) / temp, dim=-1)

    def forward(self,
                student_cls: Dict[str, List[torch.Tensor]],
                teacher_cls: List[torch.Tensor],
                student_patch: Optional[List[torch.Tensor]] = None,
                teacher_patch: Optional[List[torch.Tensor]] = None,
                masks: Optional[List[torch.Tensor]] = None) -> Dict[str, torch.Tensor]:
        """Compute the losses and update the centers.

        Args:
            student_cls (dict[str, list[Tensor]]): Per student branch (e.g. ``base``, ``aux``), the
                CLS logits ``(B, K)`` of every view, global views first.
            teacher_cls (list[Tensor]): Teacher CLS logits ``(B, K)`` of the global views.
            student_patch (list[Tensor], optional): Student patch logits ``(B, N, K)`` of the global
                views. Defaults to None (no MIM term).
            teacher_patch (list[Tensor], optional): Teacher patch logits of the global views.
            masks (list[Tensor], optional): Boolean ``(B, N)`` masks of the global views.

        Returns:
            dict[str, Tensor]: ``loss_cls_<branch>`` for each branch and ``loss_mim`` when patches
            are given; their sum is the training loss.
        """
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
                raise ValueError('IBOTLoss: the CLS term needs at least two views.')
            losses[f'loss_cls_{name}'] = weight * total / n_terms
        if student_patch is not None:
            if not self.with_patch:
                raise ValueError(f'{type(self).__name__} has no patch term; use IBOTLoss for '
                                 'masked image modeling.')
            total = 0.
            for s, t, m in zip(student_patch, teacher_patch, masks):
                t_p = self.teacher_targets(t, self.patch_center, self.teacher_patch_temp)
                ce = torch.sum(-t_p * F.log_softmax(s.float() / self.student_temp, dim=-1), dim=-1)
                m = m.flatten(1).float()
                total = total + (torch.sum(ce * m, dim=-1) / m.sum(dim=-1).clamp(min=1.0)).mean()
            losses['loss_mim'] = self.lambda_patch * total / len(student_patch)
        self.update_center(teacher_cls, teacher_patch)
        return losses

    @torch.no_grad()
    def update_center(self, teacher_cls: List[torch.Tensor],
                      teacher_patch: Optional[List[torch.Tensor]] = None) -> None:
        """EMA of the global batch mean of the teacher logits (all-reduced across ranks).

        With ``defer_center_update`` (set by the schedule hook during training) the batch sums are
        only collected here and :meth:`apply_pending_center` applies them once per optimizer step,
        so gradient accumulation over k micro-batches equals one k-times larger batch, and a skipped
        (non-finite) step can discard them.
        """
        cls = torch.cat(teacher_cls).float()
        sums = {'cls_center': cls.sum(dim=0, keepdim=True)}
        count = torch.tensor([float(cls.shape[0])], device=cls.device)
        if teacher_patch is not None:
            patch = torch.cat(teacher_patch).float()
            sums['patch_center'] = patch.mean(dim=1).sum(dim=0, keepdim=True).unsqueeze(0)
        for name, value in sums.items():
            if name in self._pending:
                self._pending[name][0].add_(value)
                self._pending[name][1].add_(count)
            else:
                self._pending[name] = [value, count.clone()]
        if not self.defer_center_update:
            self.apply_pending_center()

    @torch.no_grad()
    def apply_pending_center(self) -> None:
        """Fold the collected batch means into the centers (all ranks together)."""
        for name, (total, count) in self._pending.items():
            all_reduce(total)
            all_reduce(count)
            center = getattr(self, name)
            center.mul_(self.center_momentum).add_(total / count * (1 - self.center_momentum))
        self._pending = {}

    def discard_pending_center(self) -> None:
        """Forget the batch means of a step that was skipped."""
        self._pending = {}

    def pending_center(self) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """The batch sums and counts collected so far in an accumulation window (this rank's)."""
        return {name: (total.clone(), count.clone())
                for name, (total, count) in self._pending.items()}

    def load_pending_center(self, pending: Dict[str, Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Continue a window from :meth:`pending_center` of a checkpoint (written by rank 0).

        Under DDP the other ranks start from zero sums, so that the all-reduce in
        :meth:`apply_pending_center` counts the saved statistics once.
        """
        keep = get_rank() == 0
        self._pending = {}
        for name, (total, count) in pending.items():
            device = getattr(self, name).device
            total, count = total.to(device), count.to(device)
            self._pending[name] = [total if keep else total.zero_(),
                                   count if keep else count.zero_()]

    @torch.no_grad()
    def gather_pending_center(self) -> None:
        """Sum the pending statistics of all ranks on rank 0 (zero elsewhere).

        The all-reduced result of :meth:`apply_pending_center` is unchanged, and rank 0, which
        writes the checkpoints, then holds the whole window. No-op in one process.
        """
        if get_world_size() == 1:
            return
        for total, count in self._pending.values():
            all_reduce(total)
            all_reduce(count)
            if get_rank() != 0:
                total.zero_()
                count.zero_()

@MODELS.register_module()
class DINOLoss(IBOTLoss):
    """DINO's multi-crop CLS self-distillation: :class:`IBOTLoss` without the patch term.

    Every student view (global and local crops) learns from every teacher global view except
    itself; teacher logits are centred (EMA of the batch mean) and sharpened by ``teacher_temp``,
    which a schedule hook warms up.

    Args:
        out_channels (int): Number of prototypes.
        student_temp (float): Student temperature. Defaults to 0.1.
        center_momentum (float): Center EMA momentum. Defaults to 0.9.
        lambda_cls (float): Weight of the loss. Defaults to 1.0.
        teacher_temp (float): Teacher temperature until a schedule sets it. Defaults to 0.07.
    """

    with_patch = False

    def __init__(self,
                 out_channels: int,
                 student_temp: float = 0.1,
                 center_momentum: float = 0.9,
                 lambda_cls: float = 1.0,
                 teacher_temp: float = 0.07) -> None:
        super().__init__(out_channels, student_temp=student_temp,
                         center_momentum=center_momentum, lambda_cls=lambda_cls, lambda_patch=0.,
                         teacher_temp=teacher_temp, teacher_patch_temp=teacher_temp)
