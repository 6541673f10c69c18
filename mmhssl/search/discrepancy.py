"""Label-free measures of the discrepancy between a base model and an auxiliary head."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Linear centered kernel alignment between two feature sets of the same samples.

    ``CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` on column-centred ``X``, ``Y``
    (Kornblith et al., 2019). It is 1 for identical representations, invariant to orthogonal
    transforms and isotropic scaling of either side, and the widths of ``x`` and ``y`` may differ.

    Args:
        x (torch.Tensor): ``(N, C1)`` features.
        y (torch.Tensor): ``(N, C2)`` features of the same ``N`` samples.

    Returns:
        torch.Tensor: Scalar in ``[0, 1]`` (float64).
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f'linear_cka needs (N, C1) and (N, C2) features of the same samples, got '
                         f'{tuple(x.shape)} and {tuple(y.shape)}.')
    if x.shape[0] < 2:
        raise ValueError('linear_cka needs at least 2 samples.')
    x = x.double() - x.double().mean(0, keepdim=True)
    y = y.double() - y.double().mean(0, keepdim=True)
    cross = (y.T @ x).norm()**2
    denom = (x.T @ x).norm() * (y.T @ y).norm()
    return cross / denom.clamp(min=1e-12)


def distillation_ce(student_logits: torch.Tensor,
                    teacher_logits: torch.Tensor,
                    center: torch.Tensor,
                    teacher_temp: float,
                    student_temp: float = 0.1) -> torch.Tensor:
    """The DINO/iBOT CLS distillation cross-entropy, averaged over samples.

    Args:
        student_logits (torch.Tensor): ``(N, K)`` prototype logits of the student.
        teacher_logits (torch.Tensor): ``(N, K)`` prototype logits of the teacher.
        center (torch.Tensor): ``(1, K)`` teacher center.
        teacher_temp (float): Teacher temperature.
        student_temp (float): Student temperature. Defaults to 0.1.

    Returns:
        torch.Tensor: Scalar cross-entropy (nats).
    """
    t = F.softmax((teacher_logits.float() - center) / teacher_temp, dim=-1)
    log_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    return torch.sum(-t * log_s, dim=-1).mean()


def discrepancy_measures(base_feats: torch.Tensor, aux_feats: torch.Tensor,
                         base_logits: torch.Tensor, aux_teacher_logits: torch.Tensor,
                         loss: torch.nn.Module) -> Dict[str, Optional[float]]:
    """Both discrepancy measures of one base/auxiliary pair on the same images.

    Args:
        base_feats (torch.Tensor): ``(N, C)`` base image-level features.
        aux_feats (torch.Tensor): ``(N, C')`` auxiliary image-level features.
        base_logits (torch.Tensor): ``(N, K)`` student base logits.
        aux_teacher_logits (torch.Tensor): ``(N, K)`` teacher auxiliary logits.
        loss (nn.Module): The objective, whose centre and temperatures (``cls_center``,
            ``teacher_temp``, ``student_temp`` of DINO's and iBOT's losses) the cross-entropy uses.

    Returns:
        dict: ``ce`` (what the base still has to learn from the auxiliary head; None for an
        objective without a centred softmax, e.g. MoCo v3) and ``cka_distance``
        (``1 - linear CKA``: how differently the two represent the images).
    """
    ce = None
    if hasattr(loss, 'cls_center'):
        ce = float(
            distillation_ce(base_logits, aux_teacher_logits, loss.cls_center, loss.teacher_temp,
                            loss.student_temp))
    return dict(ce=ce, cka_distance=float(1 - linear_cka(base_feats, aux_feats)))


@torch.no_grad()
def hssl_discrepancy(model: torch.nn.Module, images: torch.Tensor) -> Dict[str, float]:
    """Discrepancy measures of a trained :class:`~mmhssl.models.HSSLAlgorithm` on ``images``.

    Args:
        model (nn.Module): An HSSL model with an auxiliary head (``neck``), in eval mode.
        images (torch.Tensor): Normalised images ``(N, 3, H, W)``, ``N >= 2``.

    Returns:
        dict: ``ce`` (teacher auxiliary -> student base distillation cross-entropy; None for an
        objective without a centred softmax, e.g. MoCo v3), ``cka_distance`` (1 - linear CKA,
        student base vs teacher auxiliary features) and ``cka_distance_student`` (student base vs
        student auxiliary features).
    """
    if getattr(model, 'neck', None) is None:
        raise ValueError('The model has no auxiliary head (neck=None): there is no base/auxiliary '
                         'discrepancy to measure.')
    s = model.adapter(model.backbone, images)
    t = model.adapter(model.teacher['backbone'], images)
    aux_t = model.teacher['neck'](t.aux_input)['cls']
    aux_s = model.neck(s.aux_input)['cls']
    result = discrepancy_measures(s.cls, aux_t, model.head(s.cls),
                                  model.teacher['head'](aux_t, aux=True), model.loss_module)
    result['cka_distance_student'] = float(1 - linear_cka(s.cls, aux_s))
    return result
