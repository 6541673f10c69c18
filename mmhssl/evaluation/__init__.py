from .features import (MissingEntryError, backbone_features, extract_features, features_from_config,
                       iter_batches, load_backbone, pixel_features)
from .knn import knn_accuracy, knn_scores, topk_accuracy
from .linear_probe import linear_probe, train_linear
from .report import environment_info, replace_marked_block, write_json
from .results_store import ResultsStore, fmt_mean_std, mean_std, spearman

__all__ = [
    'MissingEntryError', 'backbone_features', 'extract_features', 'features_from_config',
    'iter_batches', 'load_backbone', 'pixel_features', 'knn_accuracy', 'knn_scores',
    'topk_accuracy', 'linear_probe', 'train_linear', 'environment_info', 'replace_marked_block',
    'write_json', 'ResultsStore', 'fmt_mean_std', 'mean_std', 'spearman'
]
