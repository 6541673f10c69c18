"""Export the base model of an HSSL training checkpoint for downstream configs.

``python tools/model_converters/extract_backbone.py CKPT OUT.pth [--part teacher|student]
[--target mmpretrain|bare]``

The auxiliary head, projectors and mask token stay in the training checkpoint. The output is a slim
``{state_dict, meta}`` file named ``OUT-<sha256[:8]>.pth``.
"""
import argparse

from mmhssl.apis import export_backbone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument('out', help='output path (a hash prefix is added to the name)')
    parser.add_argument('--part', choices=['teacher', 'student'], default='teacher',
                        help='the EMA teacher (default) or the student')
    parser.add_argument('--target', choices=['mmpretrain', 'bare'], default='mmpretrain',
                        help="'mmpretrain': keys 'backbone.*' for init_cfg prefix='backbone.'; "
                        "'bare': no prefix")
    args = parser.parse_args(argv)
    path, digest = export_backbone(args.checkpoint, args.out, part=args.part, target=args.target)
    print(f'{path}  sha256={digest}')
    return path


if __name__ == '__main__':
    main()
