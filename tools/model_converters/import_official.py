"""Convert an official HSSL / iBOT / DINO PyTorch release (timm-style ViT) to our layout.

``python tools/model_converters/import_official.py SRC OUT.pth [--part teacher|student]
[--target mmpretrain|mmdet|mmseg|timm|bare] [--img-size N]``

Reads a training checkpoint with ``teacher`` / ``student`` dicts (``backbone.`` or
``module.backbone.`` prefixes), or released backbone weights (``state_dict``, ``model`` or a bare
state dict). Writes a slim ``{state_dict, meta}`` file ``OUT-<sha256[:8]>.pth`` (and ``OUT``, naming
it) in the key layout of ``--target`` (see ``extract_backbone.py``) and lists every key it did not
convert (projection heads, the auxiliary head, iBOT's ``masked_embed``, anything unknown).
``--img-size`` resizes the position embedding to another patch grid.

Official training checkpoints also pickle their argparse options; the safe loader refuses such files
unless you trust them: ``MMHSSL_TRUST_CHECKPOINTS=1 python tools/model_converters/...``.
"""
import argparse

from mmhssl.apis.export import TARGETS
from mmhssl.apis.official import import_official
from mmhssl.utils import command_line_tool


@command_line_tool(note='Nothing was written.')
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('out', help='output path (a hash prefix is added to the name)')
    parser.add_argument(
        '--part',
        choices=['teacher', 'student'],
        default=None,
        help='part of a training checkpoint (default: teacher if present)')
    parser.add_argument(
        '--target',
        choices=list(TARGETS),
        default='mmpretrain',
        help='key layout of the output (default: mmpretrain)')
    parser.add_argument(
        '--img-size',
        type=int,
        default=None,
        help='resize the position embedding to the grid of this input size')
    args = parser.parse_args(argv)
    path, digest, report = import_official(
        args.src, args.out, part=args.part, target=args.target, img_size=args.img_size)
    arch = report['arch']
    print(f'read the {report["source"]}: {report["mapped"]} parameters converted; ViT with '
          f'{arch["num_layers"]} blocks, {arch["embed_dims"]} wide, patch {arch["patch_size"]}, '
          f'mmpretrain arch {arch["mmpretrain_arch"] or "custom"}')
    if report['grid']:
        print(f'position embedding resized from grid {report["grid"][0]} to {report["grid"][1]}')
    print(f'{len(report["unmapped"])} keys not converted:')
    for key in report['unmapped']:
        print(f'  {key}')
    print(f'{path}  sha256={digest}')
    return path, report


if __name__ == '__main__':
    main()
