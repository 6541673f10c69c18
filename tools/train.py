"""Train a model from a config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]``.

Multi-GPU: ``tools/dist_train.sh CONFIG GPUS``; on CPU the gloo backend is chosen automatically.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmhssl  # noqa: F401  (registers modules)
from mmhssl.engine import init_cpu_process_group, leave_out_schedulers_after_training
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
    amp = parser.add_mutually_exclusive_group()
    amp.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    amp.add_argument(
        '--no-amp',
        action='store_true',
        help='train in float32 even if the config uses mixed precision (which needs a GPU): '
        'the way to try a config on a CPU')
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


# Optimizer wrappers with and without automatic mixed precision.
AMP_TYPES = {'OptimWrapper': 'AmpOptimWrapper', 'SSLOptimWrapper': 'SSLAmpOptimWrapper'}
FLOAT32_TYPES = {amp: plain for plain, amp in AMP_TYPES.items()}


def merge_args(cfg: Config, args) -> Config:
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.launcher = args.launcher
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if args.amp and wrapper in AMP_TYPES:
        cfg.optim_wrapper.type = AMP_TYPES[wrapper]
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif args.no_amp and wrapper in FLOAT32_TYPES:
        cfg.optim_wrapper.type = FLOAT32_TYPES[wrapper]
        for key in ('dtype', 'loss_scale'):  # arguments of the AMP wrappers only
            cfg.optim_wrapper.pop(key, None)
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


def check_amp_device(cfg: Config, config: str) -> None:
    """Stop with the way out when a mixed-precision config meets a machine without a GPU.

    mmengine's own error (an AssertionError from its AMP wrapper) does not say what to do.

    Args:
        cfg (Config): The merged config.
        config (str): Its file, for the message.
    """
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in FLOAT32_TYPES and not torch.cuda.is_available():
        raise SystemExit(f'{config} trains with mixed precision ({wrapper}), which needs a GPU; '
                         'to try it on this CPU, add --no-amp.')


@command_line_tool()
def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg = merge_args(cfg, args)
    check_amp_device(cfg, args.config)
    use_safe_checkpoint_loader()  # resume and load_from read training checkpoints
    init_cpu_process_group(args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
