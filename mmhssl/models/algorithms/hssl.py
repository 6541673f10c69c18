"""HSSL: the base model learns from a heterogeneous auxiliary head (arXiv 2310.05108)."""
from typing import Dict, List, Optional, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..utils.ema import ema_update_, make_teacher


@MODELS.register_module()
class HSSLAlgorithm(BaseSelfSupervisor):
    """Heterogeneous Self-Supervised Learning with an iBOT objective.

    The student is ``backbone`` (the base model kept after pretraining), ``neck`` (the auxiliary
    head, of another architecture, on the base's last-block tokens before the final norm) and
    ``head`` (the projectors). The teacher is an EMA of all three. Who learns from whom:

    * student base CLS and student auxiliary CLS → **teacher auxiliary CLS** (cross-view);
    * student base patch tokens → teacher base patch tokens on masked positions (same view).

    With ``neck=None`` the same class is plain iBOT (base CLS → teacher base CLS), the like-for-like
    baseline.

    Args:
        backbone (dict): Base model, a :class:`~mmhssl.models.MaskedVisionTransformer`.
        neck (dict, optional): Auxiliary head. Defaults to None (plain iBOT).
        head (dict): Projector, e.g. :class:`~mmhssl.models.HSSLProjector`.
        loss (dict): Objective, e.g. :class:`~mmhssl.models.IBOTLoss`.
        base_momentum (float): Initial teacher momentum; a schedule hook raises it during training.
            Defaults to 0.996.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss: dict,
                 neck: Optional[dict] = None,
                 base_momentum: float = 0.996,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss)
        self.momentum = base_momentum
        self._check_compatible()
        self.teacher = nn.ModuleDict(
            dict(backbone=make_teacher(self.backbone), head=make_teacher(self.head)))
        if self.with_neck:
            self.teacher['neck'] = make_teacher(self.neck)

    def _check_compatible(self) -> None:
        base, width = type(self.backbone).__name__, getattr(self.backbone, 'embed_dims', None)
        if not hasattr(self.backbone, 'forward_tokens'):
            raise TypeError(f'HSSLAlgorithm: backbone {base} has no forward_tokens(); use '
                            'MaskedVisionTransformer.')
        if self.with_neck:
            aux = type(self.neck).__name__
            if getattr(self.neck, 'input_type', None) != 'token_grid':
                raise TypeError(f'HSSLAlgorithm: auxiliary head {aux} does not take the token grid '
                                f'that backbone {base} produces.')
            if self.neck.in_channels != width:
                raise ValueError(
                    f'HSSLAlgorithm: auxiliary head {aux} expects {self.neck.in_channels} channels '
                    f'but backbone {base} produces {width}; set neck.in_channels={width}.')

    def init_weights(self) -> None:
        super().init_weights()
        # The teacher starts as an exact copy of the initialised (or pretrained) student.
        for name, module in self.teacher.items():
            module.load_state_dict(getattr(self, name).state_dict())

    def train(self, mode: bool = True) -> 'HSSLAlgorithm':
        super().train(mode)
        self.teacher.eval()  # never drop-path or dropout in the teacher
        return self

    def _encode(self, backbone: nn.Module, neck: Optional[nn.Module], head: nn.Module,
                images: torch.Tensor, mask: Optional[torch.Tensor], with_patch: bool
                ) -> Dict[str, torch.Tensor]:
        """Base and auxiliary CLS logits, and base patch logits when ``with_patch``."""
        pre_norm, tokens, (h, w) = backbone.forward_tokens(images, mask)
        out = {}
        if with_patch:
            logits = head(tokens)
            out['base_cls'], out['base_patch'] = logits[:, 0], logits[:, 1:]
        else:
            out['base_cls'] = head(tokens[:, 0])
        if neck is not None:
            grid = pre_norm[:, 1:].transpose(1, 2).reshape(pre_norm.shape[0], -1, h, w)
            out['aux_cls'] = head(neck(grid)['cls'], aux=True)
        return out

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Compute the HSSL losses for a batch of multi-view inputs.

        Args:
            inputs (list[Tensor]): Views ``(B, C, H, W)``: the global views (same size) first,
                then optional local views.
            data_samples (list[DataSample]): Per image; ``mask`` ``(G, h, w)`` holds the block
                masks of the G global views.

        Returns:
            dict[str, Tensor]: ``loss_cls_base``, ``loss_cls_aux`` (HSSL) and ``loss_mim``.
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('HSSLAlgorithm needs at least two views per image (use the '
                             'MultiCropWithMasks transform).')
        masks = None
        if 'mask' in data_samples[0]:
            masks = torch.stack([ds.mask for ds in data_samples]).to(inputs[0].device).bool()
            n_global = masks.shape[1]
        else:
            n_global = sum(1 for x in inputs if x.shape[-2:] == inputs[0].shape[-2:])
        globals_, locals_ = inputs[:n_global], inputs[n_global:]
        if any(x.shape[-2:] != globals_[0].shape[-2:] for x in globals_):
            raise ValueError('All global views must have the same size.')
        B = globals_[0].shape[0]
        use_mim = masks is not None
        flat_mask = masks.transpose(0, 1).flatten(0, 1).flatten(1) if use_mim else None

        with torch.no_grad():
            for name, module in self.teacher.items():
                ema_update_(module, getattr(self, name), self.momentum)
            t = self._encode(self.teacher['backbone'], self.teacher['neck'] if self.with_neck
                             else None, self.teacher['head'], torch.cat(globals_), None, use_mim)
        s = self._encode(self.backbone, self.neck if self.with_neck else None, self.head,
                         torch.cat(globals_), flat_mask, use_mim)
        branches = ['base', 'aux'] if self.with_neck else ['base']
        student_cls = {b: list(s[f'{b}_cls'].split(B)) for b in branches}
        if locals_:
            sl = self._encode(self.backbone, self.neck if self.with_neck else None, self.head,
                              torch.cat(locals_), None, False)
            for b in branches:
                student_cls[b] += list(sl[f'{b}_cls'].split(B))
        teacher_cls = t['aux_cls' if self.with_neck else 'base_cls'].split(B)
        kwargs = {}
        if use_mim:
            kwargs = dict(student_patch=s['base_patch'].split(B),
                          teacher_patch=t['base_patch'].split(B), masks=flat_mask.split(B))
        return self.loss_module(student_cls, list(teacher_cls), **kwargs)
