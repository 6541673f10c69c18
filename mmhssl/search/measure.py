"""The base/auxiliary discrepancy of a trained HSSL checkpoint, on its config's own images."""
import copy

from mmengine.runner import set_random_seed
from mmpretrain.registry import DATASETS, MODELS

from .discrepancy import hssl_discrepancy
from .trainer import base_dataset, heldout_batch, runner_model_cfg


def checkpoint_discrepancy(cfg,
                           state_dict: dict,
                           num_images: int = 16,
                           views: int = 4,
                           seed: int = 0) -> dict:
    """:func:`~mmhssl.search.hssl_discrepancy` of a trained model on its training images.

    Args:
        cfg (Config): The config the model was trained with (model and ``train_dataloader``).
        state_dict (dict): Its weights (student, teacher and auxiliary head).
        num_images (int): The first images of the training set to measure on. Defaults to 16.
        views (int): Random draws of each image (their global crops are used). Defaults to 4.
        seed (int): Seed of the draws. Defaults to 0.

    Returns:
        dict: The measures, with ``num_images`` and ``num_views``.

    Raises:
        ValueError: The weights do not fit the config.
    """
    model = MODELS.build(runner_model_cfg(cfg))
    missing, _ = model.load_state_dict(state_dict, strict=False)
    if missing:
        raise ValueError(f'The weights do not match the config: {len(missing)} missing, e.g. '
                         f'{missing[:3]}. Pass the config the model was trained with.')
    model.eval()
    set_random_seed(seed)
    dataset = base_dataset(DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset)))
    idx = list(range(min(num_images, len(dataset))))
    images = heldout_batch(dataset, idx, views, model.data_preprocessor)
    return dict(
        hssl_discrepancy(model, images), num_images=len(idx), num_views=int(images.shape[0]))
