"""Export the base model of an HSSL training checkpoint for downstream configs.

``python tools/model_converters/extract_backbone.py CKPT OUT.pth [--part teacher|student]
[--target mmpretrain|mmdet|mmseg|timm|bare] [--arch auto|vit|resnet]``

The auxiliary head, projectors and mask token stay in the training checkpoint. The output is a slim
``{state_dict, meta}`` file named ``OUT-<sha256[:8]>.pth``, and ``OUT`` itself names it too (a
symbolic link, or a copy where links are not supported): the downstream configs load
``pretrain/hssl_vit-base-p16.pth`` (ViT-B/16), ``pretrain/hssl_vit-small-p16.pth`` (ViT-S/16) and
``pretrain/hssl_r50.pth`` (ResNet-50), so export to those names. ``--no-link`` writes the hashed
file only. Nothing is written when the checkpoint cannot be read, lacks the requested part or is
not a complete backbone of the expected architecture.

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
import os

from mmhssl.apis import export_backbone
from mmhssl.apis.export import TARGETS, stable_path
from mmhssl.utils import command_line_tool


@command_line_tool(note='Nothing was written.')
def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('Targets:')[1].join(['Targets:', '']))
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument(
        'out',
        help='output path, e.g. pretrain/hssl_vit-base-p16.pth: the file '
        'is written as OUT-<sha256[:8]>.pth and OUT names it too')
    parser.add_argument(
        '--part',
        choices=['teacher', 'student'],
        default='teacher',
        help='the EMA teacher (default) or the student')
    parser.add_argument(
        '--target',
        choices=list(TARGETS),
        default='mmpretrain',
        help='key layout of the output (default: mmpretrain)')
    parser.add_argument(
        '--arch',
        choices=['auto', 'vit', 'resnet'],
        default='auto',
        help='fail unless the backbone has this architecture (default: detect)')
    parser.add_argument(
        '--no-link',
        action='store_true',
        help='write only OUT-<sha256[:8]>.pth, leave OUT as it is')
    args = parser.parse_args(argv)
    path, digest = export_backbone(
        args.checkpoint,
        args.out,
        part=args.part,
        target=args.target,
        arch=args.arch,
        link=not args.no_link)
    print(f'{path}  sha256={digest}')
    if not args.no_link:
        print(f'{stable_path(args.out)} -> {os.path.basename(path)}')
    return path


if __name__ == '__main__':
    main()
