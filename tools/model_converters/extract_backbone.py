"""Export the base model of an HSSL training checkpoint for downstream configs.

``python tools/model_converters/extract_backbone.py CKPT OUT.pth [--part teacher|student]
[--target mmpretrain|mmdet|mmseg|timm|bare] [--arch auto|vit|resnet]``

The auxiliary head, projectors and mask token stay in the training checkpoint. The output is a slim
``{state_dict, meta}`` file named ``OUT-<sha256[:8]>.pth``; nothing is written when the checkpoint
cannot be read, lacks the requested part or is not a complete backbone of the expected architecture.

Targets:
  mmpretrain  ``backbone.*`` mmpretrain keys, for ``init_cfg=dict(type='Pretrained',
              checkpoint=OUT, prefix='backbone.')`` in mmpretrain, and in mmseg / mmdet configs
              whose backbone is ``mmpretrain.VisionTransformer`` or a ResNet (the default).
  mmdet       the same layout (mmdet's ResNet has mmpretrain's keys; mmdet has no ViT of its own).
  mmseg       mmseg's own ``VisionTransformer`` keys without prefix (it ignores ``prefix``), for
              stock mmseg ViT configs: ``model.pretrained=OUT model.backbone.patch_bias=True``
              (mmseg's default ``patch_bias=False`` would drop the patch-embedding bias).
  timm        timm / official-release keys without prefix (``blocks.N.attn.qkv``, ...).
  bare        mmpretrain keys without prefix.
"""
import argparse
import sys

from mmhssl.apis import export_backbone
from mmhssl.apis.export import TARGETS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('Targets:')[1].join(['Targets:', '']))
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument('out', help='output path (a hash prefix is added to the name)')
    parser.add_argument('--part', choices=['teacher', 'student'], default='teacher',
                        help='the EMA teacher (default) or the student')
    parser.add_argument('--target', choices=list(TARGETS), default='mmpretrain',
                        help='key layout of the output (default: mmpretrain)')
    parser.add_argument('--arch', choices=['auto', 'vit', 'resnet'], default='auto',
                        help='fail unless the backbone has this architecture (default: detect)')
    args = parser.parse_args(argv)
    try:
        path, digest = export_backbone(args.checkpoint, args.out, part=args.part,
                                       target=args.target, arch=args.arch)
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        sys.exit(f'extract_backbone: {msg}\nNothing was written.')
    print(f'{path}  sha256={digest}')
    return path


if __name__ == '__main__':
    main()
