"""Weighted kNN accuracy of a backbone's frozen features on a labeled dataset.

``python tools/benchmarks/knn.py CONFIG CHECKPOINT [--part teacher|student]
[--feature cls|patch|concat] [--num-blocks 4] [--k 10 20 100] [--temperature 0.07]
[--data-config DATA_CONFIG] [--cfg-options KEY=VALUE ...] [--work-dir DIR] [--out RESULT.json]``

CHECKPOINT is a training checkpoint of ours (the teacher's base model by default), a backbone
exported by tools/model_converters/extract_backbone.py, or imported weights (mmpretrain layout or
bare). CONFIG gives the architecture and the labeled splits (``eval_dataloaders``); DATA_CONFIG,
when given, supplies ``eval_dataloaders`` instead.
"""
import argparse

import mmhssl  # noqa: F401  (registers modules and the safe checkpoint loader)
from mmhssl.evaluation import knn_accuracy
from mmhssl.evaluation.command_line import (add_common_args, describe, features_from_args,
                                            write_report)
from mmhssl.utils import command_line_tool


@command_line_tool()
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    parser.add_argument('--k', type=int, nargs='+', default=[20], help='neighbours (default 20)')
    parser.add_argument('--temperature', type=float, default=0.07, help='vote temperature')
    args = parser.parse_args(argv)
    feats = features_from_args(args)
    (xtr, ytr), (xte, yte) = feats['train'], feats['test']
    num_classes = len(feats['classes']) if feats['classes'] else None
    results = [knn_accuracy(xtr, ytr, xte, yte, num_classes, k, args.temperature) for k in args.k]
    report = dict(describe(args, feats), knn=results)
    for r in results:
        top5 = 'n/a' if r['top5'] is None else f'{r["top5"]:.2f}'
        print(f'kNN k={r["k"]} T={r["temperature"]}: top-1 {r["top1"]:.2f}  top-5 {top5}')
    write_report(args, report, 'knn')
    return report


if __name__ == '__main__':
    main()
