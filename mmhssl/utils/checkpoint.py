"""Safe checkpoint reading and atomic writing.

Checkpoints are pickles, and unpickling can run arbitrary code. Everything mmhssl loads goes through
:func:`load_checkpoint_file`, which uses ``torch.load(weights_only=True)`` with an allow-list of exactly
the types that mmengine writes into training checkpoints (its log history buffers and the numpy types
inside them). A file that needs anything else is refused unless the user opts in for trusted files with
``MMHSSL_TRUST_CHECKPOINTS=1`` (or ``trusted=True``).
"""
import os
import os.path as osp
import tempfile
from typing import Any, Optional

import numpy as np
import torch

TRUST_ENV = 'MMHSSL_TRUST_CHECKPOINTS'


class UntrustedCheckpointError(RuntimeError):
    """Raised when a checkpoint needs unpickling of types outside the allow-list."""


def _allowed_globals() -> list:
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    allowed = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    # numpy >= 1.25 pickles dtypes as instances of per-type classes (np.dtypes.Float64DType, ...).
    allowed += [type(np.dtype(t)) for t in np.sctypeDict.values()]
    allowed += [getattr(np, name) for name in ('float64', 'float32', 'int64', 'int32', 'bool_')]
    return allowed


def trust_all_checkpoints() -> bool:
    """Whether the user opted in to unpickling arbitrary objects (``MMHSSL_TRUST_CHECKPOINTS=1``)."""
    return os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes')


def load_checkpoint_file(filename: str,
                         map_location: Any = 'cpu',
                         trusted: Optional[bool] = None) -> Any:
    """Load a checkpoint without executing code from it.

    Args:
        filename (str): Path of the file.
        map_location (Any): As in :func:`torch.load`. Defaults to ``'cpu'``.
        trusted (bool, optional): Allow arbitrary unpickling for this file. Defaults to None, which
            follows the ``MMHSSL_TRUST_CHECKPOINTS`` environment variable.

    Returns:
        Any: The loaded object.

    Raises:
        FileNotFoundError: The file does not exist.
        UntrustedCheckpointError: The file holds objects outside the allow-list and is not trusted.
        RuntimeError: The file is truncated or is not a checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename!r} does not exist.')
    if trusted is None:
        trusted = trust_all_checkpoints()
    if trusted:
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            return _restore_history(torch.load(filename, map_location=map_location,
                                               weights_only=True))
    except Exception as e:  # torch raises UnpicklingError, or RuntimeError for bad archives
        msg = str(e)
        if 'Weights only load failed' in msg or 'Unsupported global' in msg:
            first = msg.split('\n')
            detail = next((line for line in first if 'Unsupported global' in line or 'GLOBAL' in line),
                          first[0])
            raise UntrustedCheckpointError(
                f'Refused to load {filename!r}: it contains objects outside the allow-list of '
                f'checkpoint types ({detail.strip()}). Loading it could execute code from the file. '
                f'If you trust its source, set {TRUST_ENV}=1 and load it again.') from None
        raise RuntimeError(f'Could not read checkpoint {filename!r}: the file is truncated or is '
                           f'not a PyTorch checkpoint ({type(e).__name__}: {msg.splitlines()[0] if msg else ""}).') from e


_HISTORY_TAG = '__history_buffer__'


def _plain_history(checkpoint: Any) -> Any:
    """Replace mmengine's ``HistoryBuffer`` log objects by plain dicts of arrays.

    A pickled ``HistoryBuffer`` drags in bound methods (``getattr``), which no safe unpickler can
    allow; arrays and ints can. :func:`load_checkpoint_file` turns them back into buffers.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    hub = checkpoint.get('message_hub') if isinstance(checkpoint, dict) else None
    if not isinstance(hub, dict) or not isinstance(hub.get('log_scalars'), dict):
        return checkpoint
    scalars = type(hub['log_scalars'])()
    for key, buf in hub['log_scalars'].items():
        if isinstance(buf, HistoryBuffer):
            log, count = buf.data
            buf = {_HISTORY_TAG: True, 'log_history': np.asarray(log),
                   'count_history': np.asarray(count), 'max_length': int(buf.max_length)}
        scalars[key] = buf
    checkpoint = dict(checkpoint)
    checkpoint['message_hub'] = dict(hub, log_scalars=scalars)
    return checkpoint


def _restore_history(checkpoint: Any) -> Any:
    hub = checkpoint.get('message_hub') if isinstance(checkpoint, dict) else None
    if not isinstance(hub, dict) or not isinstance(hub.get('log_scalars'), dict):
        return checkpoint
    from mmengine.logging.history_buffer import HistoryBuffer
    for key, buf in list(hub['log_scalars'].items()):
        if isinstance(buf, dict) and buf.get(_HISTORY_TAG):
            hub['log_scalars'][key] = HistoryBuffer(buf['log_history'], buf['count_history'],
                                                    buf['max_length'])
    return checkpoint


def save_checkpoint_atomic(obj: Any, filename: str) -> None:
    """Save ``obj`` with :func:`torch.save` so that ``filename`` is either the old or the new file.

    The data is written to a temporary file in the same directory, flushed to disk, then renamed over
    the target, so a crash or a full disk never leaves a half-written checkpoint under that name.

    Args:
        obj (Any): The object to save.
        filename (str): Destination path.
    """
    dirname = osp.dirname(osp.abspath(filename))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.pth', dir=dirname)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(_plain_history(obj), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
