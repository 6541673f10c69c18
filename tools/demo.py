"""The demo: HSSL-iBOT pretraining on the photos bundled with scikit-image, then export.

``python tools/demo.py [--work-dir work_dirs/demo] [--epochs N]``

Writes the photos to ``data/skimage_photos``, trains the demo config on the CPU, keeps the training
checkpoint, exports the teacher backbone for downstream configs and prints a summary.
"""
import argparse
import glob
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from prepare_demo_data import write_photos  # noqa: E402
from train import main as train_main  # noqa: E402

CONFIG = 'configs/hssl/hssl-ibot_vit-tiny-p16_aux-convnext2_1xb8-10e_skimage-demo.py'


def read_losses(work_dir: str) -> list:
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        return []
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if '"loss"' in line]


def main(argv=None):
    parser = argparse.ArgumentParser(description='HSSL-iBOT demo on bundled photos.')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data', default='data/skimage_photos')
    parser.add_argument('--epochs', type=int, default=None, help='override the number of epochs')
    args = parser.parse_args(argv)

    photos = write_photos(args.data)
    print(f'[demo] {len(photos)} real photos in {args.data}')
    options = [f'train_dataloader.dataset.dataset.dataset.data_root={args.data}']
    if args.epochs:
        options.append(f'train_cfg.max_epochs={args.epochs}')
    start = time.time()
    runner = train_main([CONFIG, '--work-dir', args.work_dir, '--cfg-options', *options])
    minutes = (time.time() - start) / 60

    ckpt = osp.join(args.work_dir, f'epoch_{runner.max_epochs}.pth')
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), 'model_converters'))
    from extract_backbone import main as extract_main
    exported = extract_main([ckpt, osp.join(args.work_dir, 'backbone_teacher.pth')])

    losses = read_losses(args.work_dir)
    print('\n[demo] summary')
    print(f'  config            {CONFIG}')
    print(f'  training time     {minutes:.1f} min, {runner.max_epochs} epochs, {runner.iter} iterations')
    if losses:
        first, last = losses[0], losses[-1]
        for key in ('loss', 'loss_cls_base', 'loss_cls_aux', 'loss_mim'):
            if key in first:
                print(f'  {key:<17} {first[key]:.4f} (iter {first["iter"]}) -> {last[key]:.4f} '
                      f'(iter {last["iter"]})')
    print(f'  checkpoint        {ckpt}')
    print(f'  exported backbone {exported}')
    print('  use it downstream with init_cfg=dict(type="Pretrained", checkpoint="<exported>", '
          'prefix="backbone.")')


if __name__ == '__main__':
    main()
