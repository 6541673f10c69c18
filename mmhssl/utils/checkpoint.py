"""Safe checkpoint reading and atomic writing.

Checkpoints are pickles, and unpickling can run arbitrary code. Everything mmhssl loads goes through
:func:`load_checkpoint_file`, which uses ``torch.load(weights_only=True)`` with an allow-list of
exactly the types that mmengine writes into training checkpoints (its log history buffers and the
numpy types inside them). A file that needs anything else is refused unless the user opts in for
trusted files with ``MMHSSL_TRUST_CHECKPOINTS=1`` (or ``trusted=True``).

Importing mmhssl changes nothing in mmengine: tools that let mmengine's runner read training
checkpoints (resume, ``load_from``) opt in with :func:`use_safe_checkpoint_loader`, and configs
select the ``'atomic_local'`` file backend (:class:`AtomicLocalBackend`) for writing them.
"""
import os
import os.path as osp
import uuid
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend

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
    """Whether the user opted in to unpickling any object (``MMHSSL_TRUST_CHECKPOINTS=1``)."""
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
            return _restore_history(
                torch.load(filename, map_location=map_location, weights_only=True))
    except Exception as e:  # torch raises UnpicklingError, or RuntimeError for bad archives
        msg = str(e)
        if 'Weights only load failed' in msg or 'Unsupported global' in msg:
            first = msg.split('\n')
            detail = next(
                (line for line in first if 'Unsupported global' in line or 'GLOBAL' in line),
                first[0])
            raise UntrustedCheckpointError(
                f'Refused to load {filename!r}: it contains objects outside the allow-list of '
                f'checkpoint types ({detail.strip()}). Loading it could execute code from the '
                f'file. If you trust its source, set {TRUST_ENV}=1 and load it again.') from None
        raise RuntimeError(
            f'Could not read checkpoint {filename!r}: the file is truncated or is '
            f'not a PyTorch checkpoint ({type(e).__name__}: {msg.splitlines()[0] if msg else ""}).'
        ) from e


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
            buf = {
                _HISTORY_TAG: True,
                'log_history': np.asarray(log),
                'count_history': np.asarray(count),
                'max_length': int(buf.max_length)
            }
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


def _write_atomic(filename: str, write: Callable[[Any], None]) -> None:
    """Call ``write(file)`` on a temporary file next to ``filename``, then rename it into place.

    The data is flushed to disk before the rename, so a crash or a full disk never leaves a
    half-written file under that name.
    """
    dirname = osp.dirname(osp.abspath(filename))
    os.makedirs(dirname, exist_ok=True)
    # Not mkstemp: its files are private (0600), and colleagues reading a shared work dir need
    # the mode a plain open() gives (the umask decides), as with torch.save.
    tmp = osp.join(dirname, f'.tmp-{uuid.uuid4().hex}{osp.splitext(filename)[1]}')
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def save_checkpoint_atomic(obj: Any, filename: str) -> None:
    """Save ``obj`` with :func:`torch.save` so that ``filename`` is either the old or the new file.

    Args:
        obj (Any): The object to save.
        filename (str): Destination path.
    """
    _write_atomic(filename, lambda f: torch.save(_plain_history(obj), f))


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, but every write replaces the file atomically.

    mmengine's runner writes checkpoints (and the ``last_checkpoint`` pointer) through the file
    backend of ``default_hooks.checkpoint.backend_args``; with
    ``backend_args=dict(backend='atomic_local')`` a crash or a full disk while writing leaves the
    previous file intact instead of a truncated one that a resume would then fail on.
    """

    def put(self, obj: bytes, filepath: Union[str, 'os.PathLike']) -> None:
        """Write bytes to ``filepath`` atomically."""
        _write_atomic(str(filepath), lambda f: f.write(obj))

    def put_text(self,
                 obj: str,
                 filepath: Union[str, 'os.PathLike'],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        self.put(obj.encode(encoding), filepath)


# mmengine logs a loader by its name after ``load_from_``: "Loads checkpoint by safe_local backend".
def load_from_safe_local(filename: str, map_location: Any = None) -> Any:
    """mmengine checkpoint loader for local paths: :func:`load_checkpoint_file`."""
    return load_checkpoint_file(filename, map_location=map_location)


def load_from_safe_http(filename: str,
                        map_location: Any = None,
                        model_dir: Optional[str] = None,
                        progress: bool = False) -> Any:
    """mmengine checkpoint loader for ``http(s)://``: download into torch's hub cache (rank 0
    first, then the others), then :func:`load_checkpoint_file`."""
    from mmengine.dist import barrier, get_dist_info

    from .download import download_file
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir, osp.basename(filename.split('?')[0]))
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(cached):
        download_file(filename, cached, progress=progress)
    if world_size > 1:
        barrier()
        if not osp.isfile(cached):  # ranks on other machines than rank 0
            download_file(filename, cached, progress=False)
    return load_checkpoint_file(cached, map_location=map_location)


def use_safe_checkpoint_loader() -> None:
    """Make mmengine read local and ``http(s)://`` checkpoints with :func:`load_checkpoint_file`.

    mmengine 0.10.7 reads checkpoints with a plain ``torch.load``, which torch >= 2.6 runs with
    ``weights_only=True``: it refuses the log history and numpy values of training checkpoints, so
    resume and ``load_from`` fail. :func:`load_checkpoint_file` accepts exactly those types, and
    refuses anything else with an :class:`UntrustedCheckpointError` that names the
    ``MMHSSL_TRUST_CHECKPOINTS`` opt-in.

    Importing mmhssl does not do this; ``tools/train.py`` and ``tools/test.py`` call it before
    building the runner, and so should any script that resumes or loads training checkpoints through
    mmengine. It stays in effect for the process. Exported backbones (plain state dicts) load with
    mmengine's own loader and need no opt-in.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_safe_local, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), loader=load_from_safe_http, force=True)
