"""HSSL: the base model learns from a heterogeneous auxiliary head (arXiv 2310.05108)."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..utils.base_adapter import BaseAdapter
from ..utils.ema import EMATeacherMixin, make_teacher
from ..utils.views import count_global_views, group_by_size


@MODELS.register_module()
class HSSLAlgorithm(EMATeacherMixin, BaseSelfSupervisor):
    """Heterogeneous Self-Supervised Learning on top of a teacher-student SSL objective.

    The student is ``backbone`` (the base model kept after pretraining), ``neck`` (the auxiliary
    head, of another architecture, stacked on the base's features) and ``head`` (the projector);
    the teacher (momentum encoder) is an EMA of all three. ``loss`` is the SSL objective:
    :class:`~mmhssl.models.IBOTLoss`, :class:`~mmhssl.models.DINOLoss` or
    :class:`~mmhssl.models.MoCoV3Loss`. This class is the one place that attaches the auxiliary head
    and decides who learns from whom (:meth:`wiring`):

    ==============================  =============================================================
    student output                  learns from (teacher output)
    ==============================  =============================================================
    base image-level output         **auxiliary** image-level output, other views
    auxiliary image-level output    the same auxiliary output, other views
    base patch tokens (iBOT only)   base patch tokens of the same view, on masked positions
    auxiliary patch tokens          nothing: never computed nor projected
    ==============================  =============================================================

    The image-level output is the normed class token of a ViT, the global average of a CNN's last
    map, and the pooled class output of the auxiliary head; :class:`~mmhssl.models.BaseAdapter`
    hands the base's features to the auxiliary head whatever their geometry. With ``neck=None``
    the base learns from the teacher base: the plain method, the like-for-like baseline.

    Adding an objective takes one loss module with ``forward(student_cls, teacher_cls)`` (see
    :class:`~mmhssl.models.MoCoV3Loss`), a projector whose ``forward(x, aux, student)`` embeds
    base or auxiliary outputs, and a config.

    Args:
        backbone (dict): Base model: :class:`~mmhssl.models.MaskedVisionTransformer`, an
            mmpretrain ``ResNet``, or a pooled ``VisionTransformer``.
        head (dict): Projector, e.g. :class:`~mmhssl.models.HSSLProjector` (iBOT, DINO) or
            :class:`~mmhssl.models.MoCoV3Projector`.
        loss (dict): The SSL objective.
        neck (dict, optional): Auxiliary head. Defaults to None (plain method).
        aux_input (str, optional): Which base features feed the auxiliary head: ``'pre_norm'``
            (ViT tokens before the final LayerNorm, the reference) or ``'post_norm'`` (the base
            output). Defaults to None (``'pre_norm'`` for transformers, the output for CNNs).
        base_momentum (float): Teacher momentum when no schedule gives one; in the runner
            :class:`~mmhssl.engine.hooks.HSSLScheduleHook` schedules it and moves the teacher after
            each optimizer step. Defaults to 0.996.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss: dict,
                 neck: Optional[dict] = None,
                 aux_input: Optional[str] = None,
                 base_momentum: float = 0.996,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss)
        self.momentum = base_momentum
        self.adapter = BaseAdapter(self.backbone, aux_input)
        self._check_compatible()
        self.teacher = nn.ModuleDict(
            dict(backbone=make_teacher(self.backbone), head=make_teacher(self.head)))
        if self.with_neck:
            self.teacher['neck'] = make_teacher(self.neck)

    def wiring(self) -> Tuple[Tuple[str, ...], str]:
        """The student image-level outputs and the teacher output they all learn from.

        Returns:
            tuple: ``(('base', 'aux'), 'aux')`` with an auxiliary head (HSSL), else
            ``(('base', ), 'base')`` (the plain method).
        """
        return (('base', 'aux'), 'aux') if self.with_neck else (('base', ), 'base')

    def _check_compatible(self) -> None:
        """Fail at build time, naming the modules, when the parts cannot work together."""
        base, head = self.adapter.base_name, type(self.head).__name__
        width = self.adapter.channels
        if getattr(self.head, 'in_channels', width) != width:
            raise ValueError(f'HSSLAlgorithm: projector {head} expects {self.head.in_channels} '
                             f'channels but backbone {base} produces {width}; set '
                             f'head.in_channels={width}.')
        if self.with_neck:
            aux = type(self.neck).__name__
            self.adapter.check_aux_head(self.neck)
            if getattr(self.head, 'with_aux', True) is False:
                raise ValueError(f'HSSLAlgorithm: auxiliary head {aux} is configured but projector '
                                 f'{head} has no auxiliary branch; set head.with_aux=True.')
            aux_width = getattr(self.neck, 'out_channels', self.neck.in_channels)
            if getattr(self.head, 'aux_in_channels', aux_width) != aux_width:
                raise ValueError(
                    f'HSSLAlgorithm: projector {head} expects auxiliary outputs of '
                    f'{self.head.aux_in_channels} channels but auxiliary head {aux} produces '
                    f'{aux_width}; set head.aux_in_channels={aux_width}.')
        elif getattr(self.head, 'with_aux', False):
            raise ValueError(f'HSSLAlgorithm: no auxiliary head (neck=None, the plain baseline) '
                             f'but projector {head} has auxiliary parameters; set '
                             'head.with_aux=False.')
        if getattr(self.loss_module, 'with_patch', False) and not self.adapter.supports_mask:
            raise ValueError(
                f'HSSLAlgorithm: {type(self.loss_module).__name__} trains masked image modeling, '
                f'which needs a base with a mask token, but {base} cannot mask its input. Use '
                'MaskedVisionTransformer(with_mask_token=True), or DINOLoss / MoCoV3Loss (no '
                'masks) for this base.')

    def _encode(self, parts: Dict[str,
                                  nn.Module], images: torch.Tensor, mask: Optional[torch.Tensor],
                outputs: Sequence[str], student: bool) -> Dict[str, torch.Tensor]:
        """Projected ``outputs`` (``base``, ``aux``, ``base_patch``) of one batch of images.

        ``base_patch`` is ``(B, N, K)`` for the teacher (all patch tokens) and ``(M, K)`` for the
        student: the masked tokens of ``mask`` only, in its row-major order.
        """
        feats = self.adapter(parts['backbone'], images, mask)
        head, out = parts['head'], {}
        if 'base_patch' in outputs and student and not getattr(head, 'with_norm', False):
            # The loss reads the student's patch logits at masked positions only (dinov2 projects
            # just those); a projector with batch norm sees every token, as in the reference.
            n = feats.tokens.shape[0]
            logits = head(torch.cat([feats.tokens[:, 0], feats.tokens[:, 1:][mask]]), student=True)
            out['base'], out['base_patch'] = logits[:n], logits[n:]
        elif 'base_patch' in outputs:
            # The teacher's patch centre is a mean over all its patch tokens: it projects them all.
            logits = head(feats.tokens, student=student)
            out['base'], out['base_patch'] = logits[:, 0], logits[:, 1:]
            if student:
                out['base_patch'] = out['base_patch'][mask]
        elif 'base' in outputs:
            out['base'] = head(feats.cls, student=student)
        if 'aux' in outputs:
            # Only the pooled auxiliary output is projected: no loss uses auxiliary patch tokens.
            out['aux'] = head(parts['neck'](feats.aux_input)['cls'], aux=True, student=student)
        return {k: v for k, v in out.items() if k in outputs}

    def _encode_views(self, parts: Dict[str, nn.Module], views: List[torch.Tensor],
                      masks: Optional[List[torch.Tensor]], outputs: Sequence[str],
                      student: bool) -> Dict[str, List[torch.Tensor]]:
        """Encode views, batched by size unless the objective wants one pass per view.

        Returns:
            dict[str, list[Tensor]]: Per output, one tensor per view.
        """
        result = defaultdict(list)
        for group in group_by_size(views, getattr(self.loss_module, 'separate_views', False)):
            mask = torch.cat([masks[i] for i in group]) if masks is not None else None
            out = self._encode(parts, torch.cat([views[i] for i in group]), mask, outputs, student)
            for k, v in out.items():
                sizes = views[group[0]].shape[0]
                if k == 'base_patch' and student:  # masked tokens only: a count per view
                    sizes = torch.stack([masks[i].sum() for i in group]).tolist()
                result[k] += list(v.split(sizes))
        return result

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Compute the HSSL losses for a batch of multi-view inputs.

        Args:
            inputs (list[Tensor]): Views ``(B, C, H, W)``: the global views (same size) first,
                then optional local views.
            data_samples (list[DataSample]): Per image; ``mask`` ``(G, h, w)`` holds the block
                masks of the G global views (iBOT only).

        Returns:
            dict[str, Tensor]: The objective's losses, one per student branch (e.g.
            ``loss_cls_base``, ``loss_cls_aux``), plus ``loss_mim`` for iBOT.
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('HSSLAlgorithm needs at least two views per image (use the '
                             'MultiCropWithMasks or MultiView transform).')
        masks = None
        if 'mask' in data_samples[0]:
            if not getattr(self.loss_module, 'with_patch', False):
                raise ValueError(f'The pipeline produces masks but '
                                 f'{type(self.loss_module).__name__} has no masked-image term; '
                                 'remove mask_cfg from the pipeline.')
            stacked = torch.stack([ds.mask for ds in data_samples]).to(inputs[0].device).bool()
            masks = [stacked[:, v].flatten(1) for v in range(stacked.shape[1])]
            n_global = len(masks)
        else:
            n_global = count_global_views(inputs)
        globals_, locals_ = list(inputs[:n_global]), list(inputs[n_global:])
        if any(x.shape[-2:] != globals_[0].shape[-2:] for x in globals_):
            raise ValueError('All global views must have the same size.')
        students, target = self.wiring()
        dense = ['base_patch'] if masks is not None else []

        teacher = dict(self.teacher.items())
        with torch.no_grad():
            t = self._encode_views(teacher, globals_, None, [target] + dense, student=False)
        parts = dict(backbone=self.backbone, neck=self.neck, head=self.head)
        s = self._encode_views(parts, globals_, masks, list(students) + dense, student=True)
        if locals_:
            for k, v in self._encode_views(parts, locals_, None, students, student=True).items():
                s[k] += v
        kwargs = {}
        if dense:
            kwargs = dict(student_patch=s['base_patch'], teacher_patch=t['base_patch'], masks=masks)
        return self.loss_module({b: s[b] for b in students}, t[target], **kwargs)
