"""Safe checkpoint reading and atomic writing.

Checkpoints are pickles, and unpickling can run arbitrary code. Everything mmhssl loads goes through
:func:`load_checkpoint_file`, which uses ``torch.load(weights_only=True)`` with an allow-list of
exactly the types that mmengine writes into training checkpoints (its log history buffers and the
numpy types inside them). A file that needs anything else is refused unless the user opts in for
trusted files with ``MMHSSL_TRUST_CHECKPOINTS=1`` (or ``trusted=True``).

Importing mmhssl changes nothing in mmengine: tools that let mmengine's runner read checkpoints
(resume, ``load_from``, ``init_cfg``) opt in with :func:`use_safe_checkpoint_loader`, and configs
select the ``'atomic_local'`` file backend (:class:`AtomicLocalBackend`) for writing them.
"""
import os
import os.path as osp
import re
import uuid
from typing import Any, Callable, List, Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend

TRUST_ENV = 'MMHSSL_TRUST_CHECKPOINTS'


class UntrustedCheckpointError(RuntimeError):
    """Raised when a checkpoint needs unpickling of types outside the allow-list."""


class CheckpointReadError(RuntimeError):
    """Raised when a file is truncated or is not a PyTorch checkpoint."""


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
        CheckpointReadError: The file is truncated or is not a checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename!r} does not exist.')
    return _load(filename, filename, map_location, trusted)


def _load(source: Any, name: str, map_location: Any, trusted: Optional[bool]) -> Any:
    """:func:`load_checkpoint_file` for a path or a file object; ``name`` names it in errors."""
    if trusted is None:
        trusted = trust_all_checkpoints()
    if trusted:
        # The log history comes back as buffers either way, so a trusted resume keeps it too.
        return _restore_history(torch.load(source, map_location=map_location, weights_only=False))
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            return _restore_history(
                torch.load(source, map_location=map_location, weights_only=True))
    except Exception as e:  # torch raises UnpicklingError, or RuntimeError for bad archives
        msg = str(e)
        if 'Weights only load failed' in msg or 'Unsupported global' in msg:
            first = msg.split('\n')
            detail = next(
                (line for line in first if 'Unsupported global' in line or 'GLOBAL' in line),
                first[0])
            raise _refusal(
                name, f'it contains objects outside the allow-list of checkpoint types '
                f'({detail.strip()})') from None
        raise CheckpointReadError(
            f'Could not read checkpoint {name!r}: the file is truncated or is '
            f'not a PyTorch checkpoint ({type(e).__name__}: {msg.splitlines()[0] if msg else ""}).'
        ) from e


def _refusal(name: str, why: str) -> UntrustedCheckpointError:
    return UntrustedCheckpointError(
        f'Refused to load {name!r}: {why}. Loading it could execute code from the file. If you '
        f'trust its source, set {TRUST_ENV}=1 and load it again.')


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


# The names _write_atomic gives its temporary files.
_TMP_NAME = re.compile(r'\.tmp-[0-9a-f]{32}(\.\w+)?$')


def remove_stale_temporaries(dirname: str) -> List[str]:
    """Remove the temporary files that atomic writes killed mid-way left in ``dirname``.

    Call it only where no other process is writing into ``dirname`` at the same time.

    Args:
        dirname (str): The folder, e.g. a work dir.

    Returns:
        list[str]: The removed paths.
    """
    stale = [
        osp.join(dirname, n) for n in (os.listdir(dirname) if osp.isdir(dirname) else [])
        if _TMP_NAME.match(n)
    ]
    for path in stale:
        os.remove(path)
    return stale


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


def _model_url(filename: str, urls: dict) -> str:
    scheme, name = filename.split('://', 1)
    if name not in urls:
        raise KeyError(f'{filename!r}: {scheme}:// has no model named {name!r}. Known names '
                       f'include {", ".join(sorted(urls)[:5])}, ...')
    return urls[name]


def load_from_safe_torchvision(filename: str, map_location: Any = None) -> Any:
    """mmengine checkpoint loader for ``torchvision://`` and ``modelzoo://`` names."""
    from mmengine.runner import get_torchvision_models
    return load_from_safe_http(_model_url(filename, get_torchvision_models()), map_location)


def load_from_safe_openmmlab(filename: str, map_location: Any = None) -> Any:
    """mmengine checkpoint loader for ``open-mmlab://`` and ``openmmlab://`` names."""
    from mmengine.runner import get_deprecated_model_names, get_external_models
    scheme, name = filename.split('://', 1)
    name = get_deprecated_model_names().get(name, name)
    url = _model_url(f'{scheme}://{name}', get_external_models())
    if url.startswith(('http://', 'https://')):
        return load_from_safe_http(url, map_location)
    # A relative entry names a file in mmengine's cache folder, as mmengine resolves it.
    home = os.environ.get(
        'MMENGINE_HOME',
        osp.join(os.environ.get('XDG_CACHE_HOME', osp.join('~', '.cache')), 'mmengine'))
    return load_checkpoint_file(osp.join(osp.expanduser(home), url), map_location)


def load_from_safe_mmcls(filename: str, map_location: Any = None) -> Any:
    """mmengine checkpoint loader for ``mmcls://`` names: the backbone part of the classifier."""
    from mmengine.runner import get_mmcls_models
    checkpoint = load_from_safe_http(_model_url(filename, get_mmcls_models()), map_location)
    state = checkpoint.get('state_dict', checkpoint)
    prefix = 'backbone.'
    return dict(state_dict={k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


def load_from_safe_ceph(filename: str, map_location: Any = None) -> Any:
    """mmengine checkpoint loader for ``s3://`` and ``petrel://`` paths (petrel backend)."""
    import io

    from mmengine.fileio import get_file_backend
    backend = get_file_backend(filename, backend_args=dict(backend='petrel'))
    with io.BytesIO(backend.get(filename)) as buffer:
        return _load(buffer, filename, map_location, trusted=None)


def load_from_safe_pavi(filename: str, map_location: Any = None) -> Any:
    """mmengine checkpoint loader for ``pavi://``: only with the opt-in, as its client unpickles
    the downloaded file itself."""
    if not trust_all_checkpoints():
        raise _refusal(filename, 'pavi:// checkpoints cannot be checked before unpickling')
    from mmengine.runner.checkpoint import load_from_pavi
    return load_from_pavi(filename, map_location)


def _scheme_loaders() -> list:
    """(prefixes, safe loader, mmengine's loader) for every scheme mmengine registers."""
    from mmengine.runner import checkpoint as mm
    return [
        ('', load_from_safe_local, mm.load_from_local),
        (('http://', 'https://'), load_from_safe_http, mm.load_from_http),
        (('modelzoo://', 'torchvision://'), load_from_safe_torchvision, mm.load_from_torchvision),
        (('open-mmlab://', 'openmmlab://'), load_from_safe_openmmlab, mm.load_from_openmmlab),
        ('mmcls://', load_from_safe_mmcls, mm.load_from_mmcls),
        ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), load_from_safe_ceph, mm.load_from_ceph),
        ('pavi://', load_from_safe_pavi, mm.load_from_pavi),
    ]


_safe_loaders_in_force = False


class SafeCheckpointLoaderScope:
    """Returned by :func:`use_safe_checkpoint_loader`; as a context manager it puts mmengine's
    own loaders back on exit, unless the safe ones were already in force on entry."""

    def __init__(self, was_in_force: bool) -> None:
        self.was_in_force = was_in_force

    def __enter__(self) -> 'SafeCheckpointLoaderScope':
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.was_in_force:
            restore_mmengine_checkpoint_loaders()


def use_safe_checkpoint_loader() -> SafeCheckpointLoaderScope:
    """Make mmengine read checkpoints with :func:`load_checkpoint_file`, whatever the scheme.

    mmengine 0.10.7 reads checkpoints with a plain ``torch.load``, which torch >= 2.6 runs with
    ``weights_only=True``: it refuses the log history and numpy values of training checkpoints, so
    resume and ``load_from`` fail. Its ``torchvision://``, ``modelzoo://``, ``open-mmlab://``,
    ``openmmlab://`` and ``mmcls://`` loaders go through torch's hub cache with a full unpickle.
    After this call local paths, ``http(s)://``, those names, ``s3://`` and ``petrel://`` end in
    :func:`load_checkpoint_file`, which accepts exactly the types of training checkpoints and
    refuses anything else with an :class:`UntrustedCheckpointError` that names the
    ``MMHSSL_TRUST_CHECKPOINTS`` opt-in; ``pavi://`` needs the opt-in.

    Importing mmhssl does not do this; ``tools/train.py`` and ``tools/test.py`` call it before
    building the runner, and so should any script that resumes or loads training checkpoints
    through mmengine. A plain call stays in effect for the process; ``with
    use_safe_checkpoint_loader():`` puts mmengine's own loaders back at the end of the block.

    Returns:
        SafeCheckpointLoaderScope: The context manager of the scoped form.
    """
    global _safe_loaders_in_force
    from mmengine.runner import CheckpointLoader
    for prefixes, safe, _ in _scheme_loaders():
        CheckpointLoader.register_scheme(prefixes=prefixes, loader=safe, force=True)
    was_in_force, _safe_loaders_in_force = _safe_loaders_in_force, True
    return SafeCheckpointLoaderScope(was_in_force)


def restore_mmengine_checkpoint_loaders() -> None:
    """Undo :func:`use_safe_checkpoint_loader`: mmengine's own loader for each of its schemes."""
    global _safe_loaders_in_force
    from mmengine.runner import CheckpointLoader
    for prefixes, _, own in _scheme_loaders():
        CheckpointLoader.register_scheme(prefixes=prefixes, loader=own, force=True)
    _safe_loaders_in_force = False
