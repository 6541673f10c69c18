"""Evaluate a model: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]``.

For downstream configs (e.g. linear probes); pretraining algorithms have no test loop.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmhssl  # noqa: F401
from mmhssl.engine import init_cpu_process_group
from mmhssl.utils import command_line_tool, use_safe_checkpoint_loader


@command_line_tool()
def main(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model.')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save evaluation results')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.get('test_dataloader') is None:
        raise ValueError(f'{args.config} has no test_dataloader: pretraining configs cannot be '
                         'tested; evaluate the exported backbone with a downstream config.')
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs',
        osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if not torch.cuda.is_available() and args.launcher != 'none':
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    use_safe_checkpoint_loader()  # load_from may be a training checkpoint
    init_cpu_process_group(args.launcher)
    return Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
