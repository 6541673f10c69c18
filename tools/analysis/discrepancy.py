"""Measure the base/auxiliary discrepancy of a trained HSSL model (see docs/search.md).

Example::

    python tools/analysis/discrepancy.py work_dirs/RUN/epoch_10.pth --config configs/hssl/CONFIG.py
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmhssl  # noqa: F401
from mmhssl.evaluation.report import write_json
from mmhssl.search.measure import checkpoint_discrepancy
from mmhssl.utils.checkpoint import load_checkpoint_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('checkpoint', help='HSSL training checkpoint (student and teacher weights)')
    p.add_argument(
        '--config',
        default=None,
        help='training config; defaults to the one stored in the checkpoint')
    p.add_argument(
        '--data-root',
        default=None,
        help='images to measure on (default: the '
        "config's training images)")
    p.add_argument('--num-images', type=int, default=16)
    p.add_argument('--views', type=int, default=4, help='random global crops per image')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=None, help='also write the measures to this JSON file')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    ckpt = load_checkpoint_file(args.checkpoint)
    if args.config:
        cfg = Config.fromfile(args.config)
    elif isinstance(ckpt, dict) and isinstance(ckpt.get('meta', {}).get('cfg'), str):
        cfg = Config.fromstring(ckpt['meta']['cfg'], '.py')
    else:
        sys.exit(f'{args.checkpoint} stores no config; pass --config CONFIG.')
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if args.data_root:
        ds = cfg.train_dataloader.dataset
        while 'dataset' in ds:
            ds = ds.dataset
        ds.data_root = args.data_root
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    try:
        measures = checkpoint_discrepancy(cfg, state, args.num_images, args.views, args.seed)
    except ValueError as e:
        sys.exit(f'{args.checkpoint}: {e}')
    result = dict(measures, checkpoint=args.checkpoint)
    print(f"distillation CE (teacher aux -> student base): "
          f"{'n/a' if result['ce'] is None else format(result['ce'], '.4f')}")
    print(f"1 - linear CKA (student base vs teacher aux):  {result['cka_distance']:.4f}")
    print(f"1 - linear CKA (student base vs student aux):  {result['cka_distance_student']:.4f}")
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == '__main__':
    main()
