"""Frozen-feature extraction for kNN and linear-probe evaluation."""
import copy
from typing import Iterator, Optional, Tuple

import torch
from mmengine.dataset import default_collate
from mmengine.utils import ProgressBar
from mmpretrain.registry import MODELS
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..apis.backbone_weights import MissingEntryError, backbone_state, load_strictly
from ..utils.checkpoint import load_checkpoint_file

FEATURES = ('cls', 'patch', 'concat')


def load_backbone(backbone_cfg: dict, checkpoint: str, part: str = 'teacher') -> nn.Module:
    """Build a backbone from its config and load its weights from ``checkpoint``.

    Pretraining-only parameters (the mask token) may be absent; any other missing or unexpected
    weight is an error, because evaluating a partly random backbone would be silently wrong.

    Args:
        backbone_cfg (dict): mmpretrain backbone config (e.g. ``cfg.model.backbone``).
        checkpoint (str): Path of the checkpoint, read with :func:`load_checkpoint_file`.
        part (str): ``'teacher'`` or ``'student'`` of a training checkpoint (see
            :func:`~mmhssl.apis.backbone_weights.backbone_state`). Defaults to ``'teacher'``.

    Returns:
        nn.Module: The backbone in eval mode.
    """
    backbone_cfg = copy.deepcopy(dict(backbone_cfg))
    backbone_cfg.pop('init_cfg', None)  # the checkpoint provides all weights
    backbone = MODELS.build(backbone_cfg)
    state = backbone_state(load_checkpoint_file(checkpoint), part, own_keys=backbone.state_dict())
    load_strictly(
        backbone,
        state,
        repr(checkpoint),
        f"the config's {backbone_cfg.get('type')}",
        error=MissingEntryError)
    backbone.eval()  # some backbones' train() does not return the module
    return backbone


def _final_norm(backbone: nn.Module) -> nn.Module:
    return backbone.ln1 if getattr(backbone, 'final_norm', False) else nn.Identity()


@torch.no_grad()
def backbone_features(backbone: nn.Module,
                      inputs: torch.Tensor,
                      feature: str = 'cls',
                      num_blocks: int = 4) -> torch.Tensor:
    """Features of normalised images.

    For vision transformers (mmpretrain's ``VisionTransformer`` family) the last blocks' tokens
    are taken through the final norm, as DINO/iBOT evaluate:

    * ``'cls'``: the class token of the last block;
    * ``'patch'``: the mean of the last block's patch tokens;
    * ``'concat'``: the class tokens of the last ``num_blocks`` blocks, concatenated.

    Other backbones support ``'patch'`` only: the global average of their last output map.

    Args:
        backbone (nn.Module): The (frozen) backbone.
        inputs (torch.Tensor): ``(B, C, H, W)``, already normalised.
        feature (str): One of ``'cls'``, ``'patch'``, ``'concat'``. Defaults to ``'cls'``.
        num_blocks (int): Blocks for ``'concat'``. Defaults to 4.

    Returns:
        torch.Tensor: ``(B, D)`` features.
    """
    if feature not in FEATURES:
        raise ValueError(f'feature must be one of {FEATURES}, got {feature!r}.')
    layers = getattr(backbone, 'layers', None)
    if not hasattr(backbone, 'patch_embed') or layers is None:
        if feature != 'patch':
            raise ValueError(f'feature={feature!r} needs a vision transformer; '
                             f'{type(backbone).__name__} supports only feature="patch".')
        out = backbone(inputs)
        out = out[-1] if isinstance(out, (tuple, list)) else out
        return out.flatten(2).mean(-1) if out.dim() == 4 else out.flatten(1)
    n = num_blocks if feature == 'concat' else 1
    if not 1 <= n <= len(layers):
        raise ValueError(f'num_blocks must be in 1..{len(layers)}, got {n}.')
    if feature != 'patch' and getattr(backbone, 'cls_token', None) is None:
        raise ValueError(f'feature={feature!r} needs a class token; use feature="patch".')
    # Forward hooks on the last blocks give their tokens for any ViT variant's forward().
    captured = []
    handles = [
        layer.register_forward_hook(lambda m, i, o: captured.append(o))
        for layer in list(layers)[-n:]
    ]
    try:
        backbone(inputs)
    finally:
        for h in handles:
            h.remove()
    norm = _final_norm(backbone)
    tokens = [norm(t) for t in captured]
    if feature == 'patch':
        return tokens[-1][:, getattr(backbone, 'num_extra_tokens', 1):].mean(1)
    return torch.cat([t[:, 0] for t in tokens], dim=1)


def iter_batches(dataset: Dataset,
                 data_preprocessor: nn.Module,
                 batch_size: int = 128,
                 num_workers: int = 0,
                 progress: bool = False) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """Normalised image batches and their labels, in dataset order.

    The loader does not shuffle and uses a private generator, so iterating draws nothing from the
    global random streams.

    Args:
        dataset (Dataset): Items as packed by ``PackInputs`` (``inputs`` and a ``DataSample`` with
            ``gt_label``).
        data_preprocessor (nn.Module): e.g. the model's ``SelfSupDataPreprocessor``.
        batch_size (int): Defaults to 128.
        num_workers (int): Defaults to 0.
        progress (bool): Show a progress bar. Defaults to False.

    Yields:
        tuple[Tensor, Tensor]: ``(inputs (B, C, H, W), labels (B,))``.
    """
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=default_collate,
        generator=torch.Generator())
    bar = ProgressBar(len(dataset)) if progress else None
    for data in loader:
        samples = data['data_samples']
        if not samples or 'gt_label' not in samples[0]:
            raise ValueError('The evaluation dataset has no labels (gt_label); kNN and linear '
                             'probing need a labeled dataset.')
        labels = torch.cat([s.gt_label.reshape(-1)[:1] for s in samples]).long()
        inputs = data_preprocessor(data, False)['inputs']
        if isinstance(inputs, (list, tuple)):
            raise ValueError('The evaluation pipeline must produce one image per item; remove '
                             'multi-view transforms from it.')
        if bar is not None:
            bar.update(len(labels))
        yield inputs, labels
    if bar is not None:
        bar.file.write('\n')


@torch.no_grad()
def extract_features(backbone: nn.Module,
                     dataset: Dataset,
                     data_preprocessor: nn.Module,
                     feature: str = 'cls',
                     num_blocks: int = 4,
                     batch_size: int = 128,
                     num_workers: int = 0,
                     progress: bool = False,
                     device: Optional[torch.device] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features of a whole labeled dataset through a frozen backbone.

    Args:
        backbone (nn.Module): Backbone, used in eval mode (its mode is restored afterwards).
        dataset (Dataset): Labeled dataset with a deterministic pipeline ending in ``PackInputs``.
        data_preprocessor (nn.Module): Normalisation, as in training.
        feature (str): See :func:`backbone_features`. Defaults to ``'cls'``.
        num_blocks (int): See :func:`backbone_features`. Defaults to 4.
        batch_size (int): Defaults to 128.
        num_workers (int): Defaults to 0.
        progress (bool): Show a progress bar. Defaults to False.
        device (torch.device, optional): Defaults to the backbone's device.

    Returns:
        tuple[Tensor, Tensor]: CPU features ``(N, D)`` (float32) and labels ``(N,)``.
    """
    device = device or next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    data_preprocessor = data_preprocessor.to(device)
    feats, labels = [], []
    try:
        for inputs, y in iter_batches(dataset, data_preprocessor, batch_size, num_workers,
                                      progress):
            out = backbone_features(backbone, inputs.to(device), feature, num_blocks)
            feats.append(out.float().cpu())
            labels.append(y)
    finally:
        backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """Raw-pixel baseline features: the flattened pixel values.

    Args:
        images (torch.Tensor): ``(N, ...)`` images of any integer or float type.

    Returns:
        torch.Tensor: ``(N, D)`` float32 features.
    """
    return images.reshape(len(images), -1).float()


def features_from_config(cfg,
                         checkpoint: str,
                         part: str = 'teacher',
                         feature: str = 'cls',
                         num_blocks: int = 4,
                         device: Optional[str] = None,
                         progress: bool = False) -> dict:
    """Features of the labeled evaluation splits of a config, through a checkpoint's backbone.

    The config supplies ``model.backbone`` (architecture), the data preprocessor
    (``model.data_preprocessor`` or top-level ``data_preprocessor``, as in training) and
    ``eval_dataloaders = dict(train=dict(dataset=..., batch_size=...), test=dict(...))``.

    Args:
        cfg (mmengine.Config): The config.
        checkpoint (str): Training checkpoint, exported backbone or imported weights.
        part (str): ``'teacher'`` or ``'student'`` for training checkpoints. Defaults to
            ``'teacher'``.
        feature (str): See :func:`backbone_features`. Defaults to ``'cls'``.
        num_blocks (int): See :func:`backbone_features`. Defaults to 4.
        device (str, optional): Defaults to ``'cuda'`` when available, else ``'cpu'``.
        progress (bool): Show progress bars. Defaults to False.

    Returns:
        dict: ``train`` and ``test`` ``(features, labels)`` pairs and ``classes``.
    """
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loaders = cfg.get('eval_dataloaders')
    if not loaders or 'train' not in loaders or 'test' not in loaders:
        raise MissingEntryError(
            'The config has no eval_dataloaders with "train" and "test" entries (the labeled '
            'splits for kNN / linear probing); add them to the config or pass a data config that '
            'defines them.')
    if 'backbone' not in cfg.get('model', {}):
        raise MissingEntryError('The config has no model.backbone to build the feature extractor '
                                'from.')
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    backbone = load_backbone(cfg.model.backbone, checkpoint, part).to(device)
    pre_cfg = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or dict(
        type='SelfSupDataPreprocessor')
    preprocessor = MODELS.build(copy.deepcopy(pre_cfg))
    out = {}
    for split in ('train', 'test'):
        loader = loaders[split]
        dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
        if progress:
            print(f'Extracting {feature} features of the {split} split ({len(dataset)} images)')
        out[split] = extract_features(
            backbone,
            dataset,
            preprocessor,
            feature,
            num_blocks,
            loader.get('batch_size', 128),
            loader.get('num_workers', 0),
            progress=progress,
            device=torch.device(device))
        out.setdefault('classes', dataset.metainfo.get('classes'))
    return out
