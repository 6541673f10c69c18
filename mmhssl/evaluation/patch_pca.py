"""Principal components of a vision transformer's patch features, shown as colours."""
from typing import List, Sequence, Tuple

import numpy as np
import torch


@torch.no_grad()
def patch_pca(backbone: torch.nn.Module, preprocessor: torch.nn.Module, paths: Sequence[str],
              size: int) -> List[Tuple[np.ndarray, np.ndarray]]:
    """The first three principal components of a ViT's last-layer patch tokens, as RGB.

    The components are fitted jointly on all photos, so equal colours mean similar features
    across photos too.

    Args:
        backbone (nn.Module): An mmpretrain ViT (``layers``, ``ln1``, ``num_extra_tokens``).
        preprocessor (nn.Module): The training data preprocessor (normalisation).
        paths (Sequence[str]): Photos, each resized to ``size`` x ``size``.
        size (int): Input side; a multiple of the patch size.

    Returns:
        list[tuple]: ``(photo RGB uint8 (size, size, 3), components (h, w, 3) in [0, 1])``.
    """
    import mmcv
    imgs = [
        mmcv.imresize(
            mmcv.imread(p, 'color'), (size, size), interpolation='bicubic', backend='pillow')
        for p in paths
    ]
    batch = torch.stack(
        [torch.from_numpy(np.ascontiguousarray(i.transpose(2, 0, 1))) for i in imgs])
    inputs = preprocessor(dict(inputs=batch, data_samples=None), False)['inputs']
    captured = []
    handle = backbone.layers[-1].register_forward_hook(lambda m, i, o: captured.append(o))
    was_training = backbone.training
    backbone.eval()
    try:
        backbone(inputs)
    finally:
        handle.remove()
        backbone.train(was_training)
    norm = backbone.ln1 if getattr(backbone, 'final_norm', False) else torch.nn.Identity()
    tokens = norm(captured[0])[:, backbone.num_extra_tokens:].float()  # (B, h*w, C)
    h = w = int(round(tokens.shape[1]**0.5))
    flat = tokens.reshape(-1, tokens.shape[-1])
    flat = flat - flat.mean(0)
    _, _, v = torch.linalg.svd(flat, full_matrices=False)
    comps = flat @ v[:3].T
    # Robust per-component range (1st-99th percentile) so that a few outliers do not grey it out.
    lo, hi = comps.quantile(0.01, dim=0), comps.quantile(0.99, dim=0)
    comps = ((comps - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1).reshape(len(paths), h, w, 3)
    return [(img[..., ::-1].copy(), c.numpy()) for img, c in zip(imgs, comps)]
