"""Download a model-zoo checkpoint into the cache and verify its sha256.

``python tools/download.py NAME [NAME ...] [--dest DIR] [--no-progress]``;
``python tools/download.py --list [PATTERN]`` lists the model names.

The cache is ``$MMHSSL_HOME/checkpoints`` (``MMHSSL_HOME`` defaults to ``~/.cache/mmhssl``);
``--dest`` overrides it. An interrupted download starts over when the command is run again; a file
whose sha256 does not match is deleted. For entries published in the official HSSL format, a
converted copy ``<file>_mmhssl.pth`` is written next to the download, ready for ``load_from`` or
``init_cfg``.
"""
import argparse
import os.path as osp

from mmhssl.apis import fetch_checkpoint, get_model_info, list_models, weights_format
from mmhssl.apis.official import convert_checkpoint_format
from mmhssl.utils import (command_line_tool, load_checkpoint_file, save_checkpoint_atomic,
                          sha256_file)


def download(name: str, dest: str = None, progress: bool = True) -> str:
    """Fetch one model; returns the checkpoint to use (the converted copy for official ones)."""
    entry = get_model_info(name)
    path = fetch_checkpoint(entry, cache_dir=dest, progress=progress)
    print(f'{name}: {path}  sha256={sha256_file(path)}')
    fmt = weights_format(entry)
    if fmt == 'mmhssl':
        return path
    stem, ext = osp.splitext(path)
    converted = f'{stem}_mmhssl{ext or ".pth"}'
    save_checkpoint_atomic(convert_checkpoint_format(load_checkpoint_file(path), fmt), converted)
    print(f'{name}: converted from the {fmt} format to {converted}')
    return converted


@command_line_tool()
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('names', nargs='*', help='model names (see --list)')
    parser.add_argument(
        '--dest',
        default=None,
        help='cache folder (default: $MMHSSL_HOME/checkpoints, '
        '~/.cache/mmhssl/checkpoints)')
    parser.add_argument(
        '--list',
        nargs='?',
        const='*',
        default=None,
        metavar='PATTERN',
        help='list the model names matching a wildcard pattern and exit')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = parser.parse_args(argv)
    if args.list is not None:
        names = list_models(args.list)
        print('\n'.join(names))
        return names
    if not args.names:
        parser.error('give at least one model name, or --list')
    return [download(n, args.dest, progress=not args.no_progress) for n in args.names]


if __name__ == '__main__':
    main()
