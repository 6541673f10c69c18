"""Provenance for evaluation results: versions and date."""
import datetime
import json
import os
import platform


def environment_info() -> dict:
    """Versions of the stack, the device and the UTC time, for result files."""
    import mmengine
    import mmpretrain
    import torch

    from ..version import __version__
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else (
        f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)')
    return dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        python=platform.python_version(),
        torch=torch.__version__,
        mmengine=mmengine.__version__,
        mmpretrain=mmpretrain.__version__,
        mmhssl=__version__,
        device=device)


def write_json(path: str, obj) -> None:
    """Write ``obj`` as indented JSON, creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')
    os.replace(path + '.tmp', path)


def replace_marked_block(text: str, block: str, start: str, end: str) -> str:
    """``text`` with the part from ``start`` to ``end`` (markers included) replaced by ``block``,
    which carries the markers itself (generated tables in README.md)."""
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f'No {start} ... {end} markers; add them where the generated block '
                         'belongs.')
    return text[:i] + block + text[j + len(end):]
