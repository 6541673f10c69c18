"""Train a model from a config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

Multi-GPU: ``tools/dist_train.sh CONFIG GPUS``; on CPU the gloo backend is chosen automatically.
"""
import argparse
import os
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.engine import leave_out_schedulers_after_training
from mmhssl.utils import command_line_tool, use_safe_checkpoint_loader


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (mmhssl / mmpretrain).')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in the '
        'work dir when no path is given')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the real batch size / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the training step (mmengine cfg.compile=True)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs (e.g. model.neck.depth=2)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank (older).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.launcher = args.launcher
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        amp_types = {'OptimWrapper': 'AmpOptimWrapper', 'SSLOptimWrapper': 'SSLAmpOptimWrapper'}
        if wrapper in amp_types:
            cfg.optim_wrapper.type = amp_types[wrapper]
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume {args.resume}: no such checkpoint file.')
        cfg.resume, cfg.load_from = True, args.resume
    if args.compile:
        cfg.compile = True
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    leave_out_schedulers_after_training(cfg)
    if not torch.cuda.is_available() and args.launcher != 'none':
        # CPU processes: gloo, and DDP without device ids (mmengine's default pins a GPU).
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(
                type='MMDistributedDataParallel',
                device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters', False))
    return cfg


def init_cpu_process_group(launcher: str) -> None:
    """Join the torchrun process group with gloo when there is no GPU.

    mmengine 0.10.7 pins a CUDA device when it sets up a ``pytorch`` launcher's process group, which
    fails without CUDA; the runner leaves an existing process group as it is.

    Args:
        launcher (str): The ``--launcher`` choice.
    """
    if launcher == 'pytorch' and not torch.cuda.is_available() and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')


@command_line_tool()
def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg = merge_args(cfg, args)
    use_safe_checkpoint_loader()  # resume and load_from read training checkpoints
    init_cpu_process_group(args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
