"""One base model trained with several candidate auxiliary heads at once (the head search)."""
import copy
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ..utils.base_adapter import BaseAdapter
from ..utils.ema import EMATeacherMixin, make_teacher
from ..utils.views import count_global_views, group_by_size


@MODELS.register_module()
class MultiAuxSearch(EMATeacherMixin, BaseSelfSupervisor):
    """A shared base model with K candidate auxiliary heads, each with its own projector.

    Each candidate ``k`` runs its own loop of the searched method's objective (``loss``: DINO, iBOT
    without its masked-patch term, MoCo v3, ...): the student auxiliary output and the student base
    output (through projector ``k``) both learn from the teacher auxiliary output of candidate
    ``k`` (other views), with the state (e.g. the centre) of its own loss module. The base thus
    learns from every candidate; each loss is divided by K so the base's total signal does not
    grow with the number of candidates. The teacher is an EMA of the base and of every head and
    projector.

    A candidate that cannot attach to the base (its config fails to build, its input geometry or
    width does not match, or a dry run on a ``probe_size`` image fails) is left out and its reason
    kept in :attr:`skipped`; the search fails only if no candidate remains.

    Args:
        backbone (dict): Base model (any base :class:`~mmhssl.models.BaseAdapter` supports).
        head (dict): Projector template, e.g. :class:`~mmhssl.models.HSSLProjector`; its
            ``in_channels`` and ``aux_in_channels`` are set per candidate.
        loss (dict): Per-candidate objective, e.g. :class:`~mmhssl.models.DINOLoss` or
            :class:`~mmhssl.models.MoCoV3Loss`; views are encoded one by one when it asks for it
            (``separate_views``).
        candidates (dict): Display name -> auxiliary head (``neck``) config; ``in_channels``,
            ``base_depth`` and, for transformer heads, ``grid_size``/``num_heads`` default to the
            base's.
        aux_input (str, optional): See :class:`~mmhssl.models.HSSLAlgorithm`. Defaults to None.
        base_momentum (float): Teacher EMA momentum. Defaults to 0.996.
        probe_size (int, optional): Side of the dry-run image. Defaults to the base's
            ``img_size`` or 64.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 loss: dict,
                 candidates: Dict[str, dict],
                 aux_input: Optional[str] = None,
                 base_momentum: float = 0.996,
                 probe_size: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not candidates:
            raise ValueError('MultiAuxSearch: give at least one candidate auxiliary head.')
        self.momentum = base_momentum
        self.adapter = BaseAdapter(self.backbone, aux_input)
        grid = getattr(self.backbone, 'patch_resolution', None)
        size = probe_size or getattr(self.backbone, 'img_size', None) or 64
        size = size[0] if isinstance(size, (tuple, list)) else size
        self.backbone.eval()
        with torch.no_grad():
            probe = self.adapter(self.backbone, torch.zeros(1, 3, size, size)).aux_input
        self.backbone.train()
        self.names: List[str] = []
        self.configs: Dict[str, dict] = {}
        self.skipped: Dict[str, str] = {}
        self.necks, self.heads, self.losses = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        for name, cfg in candidates.items():
            try:
                neck_cfg = self._complete(cfg, grid)
                neck = MODELS.build(neck_cfg)
                self.adapter.check_aux_head(neck)
                neck.eval()
                with torch.no_grad():
                    neck(probe)
                neck.train()
                proj = MODELS.build(
                    dict(
                        head, in_channels=self.adapter.channels, aux_in_channels=neck.out_channels))
            except Exception as e:  # noqa: BLE001  (any failure means: cannot attach)
                self.skipped[name] = f'{type(e).__name__}: {e}'
                continue
            key = f'c{len(self.names)}'  # module keys must not contain dots
            self.names.append(name)
            self.configs[name] = neck_cfg
            self.necks[key], self.heads[key] = neck, proj
            self.losses[key] = MODELS.build(loss)
        if not self.names:
            raise ValueError('MultiAuxSearch: no candidate can attach to the base: ' +
                             '; '.join(f'{k}: {v}' for k, v in self.skipped.items()))
        self.teacher = nn.ModuleDict(
            dict(
                backbone=make_teacher(self.backbone),
                necks=make_teacher(self.necks),
                heads=make_teacher(self.heads)))

    def _complete(self, cfg: dict, grid: Optional[Tuple[int, int]]) -> dict:
        """Fill in the base-dependent fields of a candidate head config."""
        cfg = copy.deepcopy(dict(cfg))
        cfg.setdefault('in_channels', self.adapter.channels)
        cfg.setdefault('base_depth', getattr(self.backbone, 'num_layers', 12))
        if cfg.get('type') == 'AuxTransformerHead':
            width = cfg.get('embed_dims') or cfg['in_channels']
            cfg.setdefault('num_heads', next(h for h in (8, 6, 4, 3, 2, 1) if width % h == 0))
            if grid is not None:
                cfg.setdefault('grid_size', tuple(grid))
        return cfg

    def keys(self) -> List[Tuple[str, str]]:
        """``(display name, module key)`` of every attached candidate, in order."""
        return [(n, f'c{i}') for i, n in enumerate(self.names)]

    def _features(self, backbone: nn.Module, views: List[torch.Tensor]):
        """Base features per group of same-size views (one forward per size, or per view when the
        objective wants batch statistics of single views)."""
        separate = getattr(next(iter(self.losses.values())), 'separate_views', False)
        return [(len(g), self.adapter(backbone, torch.cat([views[i] for i in g])))
                for g in group_by_size(views, separate)]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Per-candidate losses ``loss_<key>_<term>_<branch>`` (e.g. ``loss_c0_cls_base``,
        ``loss_c0_nce_aux``), summing to the total.

        Args:
            inputs (list[Tensor]): Views, global (same size) first. Masks, if the pipeline makes
                any, are ignored: the search uses the CLS terms only.
            data_samples (list[DataSample]): Unused beyond batching.

        Returns:
            dict[str, Tensor]: The losses.
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError('MultiAuxSearch needs at least two views per image (use the '
                             'MultiCropWithMasks or MultiView transform).')
        n_global = count_global_views(inputs)
        with torch.no_grad():
            t_groups = self._features(self.teacher['backbone'], list(inputs[:n_global]))
        s_groups = self._features(self.backbone, list(inputs))
        losses, scale = {}, 1.0 / len(self.names)
        for _, key in self.keys():
            t_neck, t_head = self.teacher['necks'][key], self.teacher['heads'][key]
            with torch.no_grad():
                t = [
                    v for n, f in t_groups
                    for v in t_head(t_neck(f.aux_input)['cls'], aux=True).chunk(n)
                ]
            proj, neck = self.heads[key], self.necks[key]
            base, aux = [], []
            for n, f in s_groups:
                base += list(proj(f.cls, student=True).chunk(n))
                aux += list(proj(neck(f.aux_input)['cls'], aux=True, student=True).chunk(n))
            out = self.losses[key](dict(base=base, aux=aux), t)
            for term, value in out.items():
                losses[f'loss_{key}_{term[len("loss_"):]}'] = value * scale
        return losses

    @torch.no_grad()
    def outputs(self, images: torch.Tensor) -> Dict[str, Dict[str, torch.Tensor]]:
        """What the discrepancy measures need, per candidate, for one batch of images.

        Args:
            images (torch.Tensor): Normalised images ``(N, 3, H, W)``.

        Returns:
            dict: Per display name, the arguments of
            :func:`~mmhssl.search.discrepancy_measures`: ``base_feats`` (student),
            ``aux_feats`` (teacher), ``base_logits`` (student), ``aux_teacher_logits`` and the
            candidate's ``loss`` module.
        """
        s = self.adapter(self.backbone, images)
        t = self.adapter(self.teacher['backbone'], images)
        result = {}
        for name, key in self.keys():
            aux = self.teacher['necks'][key](t.aux_input)['cls']
            result[name] = dict(
                base_feats=s.cls,
                aux_feats=aux,
                base_logits=self.heads[key](s.cls),
                aux_teacher_logits=self.teacher['heads'][key](aux, aux=True),
                loss=self.losses[key])
        return result
