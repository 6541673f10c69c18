"""Linear-probe accuracy of a backbone's frozen features, with a small learning-rate sweep.

``python tools/benchmarks/linear_probe.py CONFIG CHECKPOINT [--part teacher|student]
[--feature cls|patch|concat] [--num-blocks 4] [--lrs 0.001 0.01 0.1 1.0] [--epochs 50]
[--data-config DATA_CONFIG] [--cfg-options KEY=VALUE ...] [--work-dir DIR] [--out RESULT.json]``

The learning rate is chosen on a held-out part of the train split, the classifier is retrained on
the whole train split and evaluated once on the test split. Checkpoints and data as for knn.py.
"""
import argparse

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.evaluation import linear_probe
from mmhssl.evaluation.command_line import (add_common_args, describe, features_from_args,
                                            write_report)
from mmhssl.utils import command_line_tool


@command_line_tool()
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_common_args(parser)
    parser.add_argument(
        '--lrs',
        type=float,
        nargs='+',
        default=[0.001, 0.01, 0.1, 1.0],
        help='learning rates to try (SGD, momentum 0.9, cosine)')
    parser.add_argument('--epochs', type=int, default=50)
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--weight-decay', type=float, default=0.0)
    parser.add_argument(
        '--val-fraction',
        type=float,
        default=0.1,
        help='part of the train split held out to choose the learning rate')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    feats = features_from_args(args)
    (xtr, ytr), (xte, yte) = feats['train'], feats['test']
    num_classes = len(feats['classes']) if feats['classes'] else None
    print(f'Training linear classifiers ({len(args.lrs)} learning rates, {args.epochs} epochs)')
    result = linear_probe(xtr, ytr, xte, yte, num_classes, args.lrs, args.epochs, args.batch_size,
                          args.weight_decay, args.val_fraction, args.seed)
    report = dict(describe(args, feats), linear_probe=result)
    top5 = 'n/a' if result['top5'] is None else f'{result["top5"]:.2f}'
    print(f'linear probe (lr {result["lr"]}): top-1 {result["top1"]:.2f}  top-5 {top5}')
    if result['lr_at_sweep_edge']:
        print(f'note: the chosen learning rate {result["lr"]} is at the end of the sweep '
              f'{args.lrs}; a wider --lrs may do better.')
    write_report(args, report, 'linear')
    return report


if __name__ == '__main__':
    main()
