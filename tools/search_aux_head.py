"""Label-free search for the auxiliary head that suits a base model best.

Attaches all candidate heads to one base model (each with its own projector and copy of the config's
loss), trains them jointly with the config's optimizer and its schedule compressed into --iters on
the config's training images, then ranks the candidates by the base/auxiliary discrepancy on
held-out images (largest first).

Example::

    python tools/search_aux_head.py configs/hssl/CONFIG.py \
        --candidates convnext-d2-k7 convnext-d1-k3 transformer-d1 mlp-d2 --iters 100
"""
import argparse
import os.path as osp
import shlex
import sys
from typing import List, Optional

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmhssl  # noqa: F401  (registers the models)
from mmhssl.evaluation.report import environment_info, write_json
from mmhssl.search import CANDIDATES, format_table, plot_history, run_search, to_json
from mmhssl.utils import command_line_tool


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='HSSL config: base model, projector and train_dataloader')
    parser.add_argument(
        '--candidates',
        nargs='+',
        required=True,
        help=f'names ({", ".join(CANDIDATES)}) or neck dict literals')
    parser.add_argument('--iters', type=int, default=100, help='training iterations')
    parser.add_argument('--work-dir', default=None, help='where the JSON and PNG go')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument(
        '--lr', type=float, default=None, help="learning rate in place of the config's optimizer's")
    parser.add_argument('--heldout', type=int, default=4, help='images held out for scoring')
    parser.add_argument('--eval-interval', type=int, default=None)
    parser.add_argument('--data-root', default=None, help='override the training image folder')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    return parser.parse_args(argv)


def _quote(arg: str) -> str:
    """Shell quoting that keeps a dict literal readable (in double quotes when it can)."""
    if not set(arg) & set(' \'"$`\\!*?[]{}()<>|&;#~'):
        return arg
    return f'"{arg}"' if not set(arg) & set('"$`\\!') else shlex.quote(arg)


@command_line_tool()
def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    if args.iters < 1:
        sys.exit('--iters must be >= 1.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        from mmengine.config import DictAction
        opts = {}
        DictAction(option_strings=[], dest='x')(None, opts, args.cfg_options)
        cfg.merge_from_dict(opts)
    if args.data_root:
        ds = cfg.train_dataloader.dataset
        while 'dataset' in ds:
            ds = ds.dataset
        ds.data_root = args.data_root
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', 'search_' + name)
    result = run_search(
        cfg,
        args.candidates,
        iters=args.iters,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        heldout=args.heldout,
        eval_interval=args.eval_interval)
    print(format_table(result))
    print(f"\n{result['train_seconds']} s training, {result['seconds_per_iter']} s/iter, "
          f"~{result['seconds_per_candidate']} s per candidate")
    print(f"Rule: {result['rule']}.\nWinner: {result['winner']}\n    {result['snippet']}")
    out = to_json(result)
    out.update(
        config=args.config,
        command=' '.join(
            _quote(a) for a in ['python', 'tools/search_aux_head.py'] +
            list(argv if argv is not None else sys.argv[1:])),
        environment=environment_info())
    write_json(osp.join(work_dir, 'aux_search.json'), out)
    plot_history(result, osp.join(work_dir, 'aux_search.png'))
    with open(osp.join(work_dir, 'winner_neck.py'), 'w') as f:
        f.write(f"# {result['rule']}\nmodel = dict({result['snippet']})\n")
    print(f'Wrote {work_dir}/aux_search.json, aux_search.png, winner_neck.py')
    return result


if __name__ == '__main__':
    main()
