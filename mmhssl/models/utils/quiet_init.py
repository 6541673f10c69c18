"""``init_weights()`` without mmengine's log record per parameter."""
import logging

from mmengine.logging import MMLogger
from torch import nn


def init_weights_quietly(model: nn.Module) -> None:
    """Call ``model.init_weights()`` with the current MMLogger at WARNING, then restore its level.

    mmengine logs one INFO record per parameter when a top-level module is initialised, which
    buries everything else printed around building a model.
    """
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
