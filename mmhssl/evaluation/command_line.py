"""The command line shared by the frozen-feature evaluation tools (kNN, linear probe)."""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

from .features import features_from_config
from .report import environment_info, write_json


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of every frozen-feature evaluation command: config, checkpoint, features."""
    parser.add_argument('config', help='config with model.backbone (and eval_dataloaders)')
    parser.add_argument('checkpoint', help='training checkpoint, exported or imported backbone')
    parser.add_argument(
        '--part',
        choices=['teacher', 'student'],
        default='teacher',
        help='which base model of a training checkpoint (default: teacher)')
    parser.add_argument(
        '--feature',
        choices=['cls', 'patch', 'concat'],
        default='cls',
        help='class token, mean of patch tokens, or class tokens of the last '
        '--num-blocks blocks concatenated (default: cls)')
    parser.add_argument('--num-blocks', type=int, default=4, help='blocks for --feature concat')
    parser.add_argument('--data-config', help='config that defines eval_dataloaders')
    parser.add_argument('--device', help='cpu or cuda (default: cuda when available)')
    parser.add_argument(
        '--work-dir', help='folder for the result JSON (default: ./work_dirs/CONFIG_NAME)')
    parser.add_argument(
        '--out', help='result JSON (default: WORK_DIR/CHECKPOINT_NAME_<method>_<feature>.json)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'eval_dataloaders.train.dataset.num_per_class=1000')


def load_config(args) -> Config:
    """The config of the command line, with ``--data-config`` and ``--cfg-options`` applied."""
    cfg = Config.fromfile(args.config)
    if args.data_config:
        cfg.eval_dataloaders = Config.fromfile(args.data_config).eval_dataloaders
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def features_from_args(args) -> dict:
    """The features the command line asks for (see :func:`add_common_args`)."""
    return features_from_config(
        load_config(args),
        args.checkpoint,
        args.part,
        args.feature,
        args.num_blocks,
        args.device,
        progress=True)


def describe(args, feats: dict) -> dict:
    """What a result was measured on, for its JSON report."""
    return dict(
        config=args.config,
        checkpoint=args.checkpoint,
        part=args.part,
        feature=args.feature,
        num_blocks=args.num_blocks if args.feature == 'concat' else None,
        classes=list(feats['classes'] or []),
        num_train=len(feats['train'][1]),
        num_test=len(feats['test'][1]),
        feature_dim=int(feats['train'][0].shape[1]),
        environment=environment_info())


def write_report(args, report: dict, method: str) -> str:
    """Write the result JSON (the caller printed the result first, so a failure loses nothing).

    Args:
        args (argparse.Namespace): The parsed command line (see :func:`add_common_args`).
        report (dict): The result.
        method (str): ``'knn'`` or ``'linear'``, part of the default file name.

    Returns:
        str: The path written.
    """
    work_dir = args.work_dir or osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    stem = osp.splitext(osp.basename(args.checkpoint))[0]
    out = args.out or osp.join(work_dir, f'{stem}_{method}_{args.feature}.json')
    try:
        write_json(out, report)
    except OSError as e:
        raise OSError(f'Could not write the result to {out} ({e.strerror or e}); it is printed '
                      'above. Pass --work-dir or --out to a folder you can write to.') from e
    print(f'written {out}')
    return out
