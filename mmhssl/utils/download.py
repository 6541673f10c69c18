"""The checkpoint cache: verified files, offline use, and errors that name the file to place.

Downloads are :func:`torch.hub.download_url_to_file`'s: written under a temporary name, checked
against the expected sha256 and renamed only when they match, so a failed or damaged download
leaves nothing. They do not resume: every zoo entry with weights ships its file with the package
(0.8 MB each) and none is downloaded, so no measured need calls for resuming; what is kept
here is what the packaged entries use every time (a cached file is verified against its sha256 on
each use) and what a user without network needs (``MMHSSL_OFFLINE=1`` and messages that say which
file to place where).

The cache is ``$MMHSSL_HOME/checkpoints``; ``MMHSSL_HOME`` defaults to ``$XDG_CACHE_HOME/mmhssl``,
that is ``~/.cache/mmhssl``. ``MMHSSL_OFFLINE=1`` forbids network access.
"""
import hashlib
import http.client
import os
import os.path as osp
import urllib.error
import warnings
from typing import Optional

from torch.hub import download_url_to_file

HOME_ENV = 'MMHSSL_HOME'
OFFLINE_ENV = 'MMHSSL_OFFLINE'
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """Raised when a file could not be downloaded."""


class ChecksumError(DownloadError):
    """Raised when a downloaded or cached file does not have the expected sha256."""


class CheckpointNotFoundError(FileNotFoundError):
    """Raised when a checkpoint is neither cached nor downloadable."""


def default_cache_dir() -> str:
    """The checkpoint cache: ``$MMHSSL_HOME/checkpoints`` (``~/.cache/mmhssl/checkpoints``)."""
    home = os.environ.get(HOME_ENV) or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.join('~', '.cache'), 'mmhssl')
    return osp.abspath(osp.join(osp.expanduser(home), 'checkpoints'))


def resolve_cache_dir(cache_dir: Optional[str] = None) -> str:
    """``cache_dir`` made absolute, or :func:`default_cache_dir` when it is None."""
    return osp.abspath(osp.expanduser(cache_dir)) if cache_dir else default_cache_dir()


def offline_mode() -> bool:
    """Whether the user forbade downloads with ``MMHSSL_OFFLINE=1``."""
    return os.environ.get(OFFLINE_ENV, '').lower() in ('1', 'true', 'yes')


def sha256_file(path: str) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str, sha256: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` hashes to ``sha256`` (a full hash or a prefix).

    Args:
        path (str): The file.
        sha256 (str): Expected hex digest, or its first characters (at least 8).
    """
    expected = sha256.strip().lower()
    if len(expected) < 8:
        raise ValueError(f'A sha256 needs at least 8 hex digits, got {sha256!r}.')
    actual = sha256_file(path)
    if not actual.startswith(expected):
        raise ChecksumError(f'{path} has sha256 {actual}, expected {expected}: the file is '
                            'corrupted or truncated.')


def download_file(url: str, dst: str, sha256: Optional[str] = None, progress: bool = True) -> str:
    """Download ``url`` to ``dst`` (see the module docstring); nothing is left on failure.

    Args:
        url (str): ``http://`` or ``https://`` address.
        dst (str): Destination path; written only once the file is complete and verified.
        sha256 (str, optional): Expected hex digest (or its first 8+ digits). Defaults to None
            (no verification).
        progress (bool): Show a progress bar on stderr. Defaults to True.

    Returns:
        str: ``dst``.

    Raises:
        ChecksumError: The downloaded file has another sha256.
        DownloadError: The server could not be reached or answered with an error.
    """
    if not url.startswith(('http://', 'https://')):
        raise ValueError(f'Only http:// and https:// downloads are supported, got {url!r}.')
    dst = osp.abspath(dst)
    os.makedirs(osp.dirname(dst), exist_ok=True)
    try:
        download_url_to_file(
            url, dst, hash_prefix=sha256.strip().lower() if sha256 else None, progress=progress)
    except urllib.error.HTTPError as e:
        raise DownloadError(f'Downloading {url} failed: HTTP {e.code} {e.reason}.') from None
    except RuntimeError as e:
        if 'invalid hash value' not in str(e):
            raise
        raise ChecksumError(f'Rejected the download of {url}: {e}. Nothing was kept; the file on '
                            'the server may be damaged.') from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, 'reason', e)
        raise DownloadError(f'Could not reach {url} ({reason}).') from None
    return dst


def cached_file(path: str,
                url: Optional[str] = None,
                sha256: Optional[str] = None,
                offline: Optional[bool] = None,
                progress: bool = True,
                what: Optional[str] = None,
                note: str = '') -> str:
    """``path`` once verified: the cached file, else downloaded from ``url`` when allowed.

    A cached file is verified every time; a damaged one is downloaded again (or reported, when
    offline or without ``url``). A cached file without an expected ``sha256`` is used, with a
    warning.
    Every failure says which file to place where.

    Args:
        path (str): Where the file is cached.
        url (str, optional): Where to download it from. Defaults to None (nowhere).
        sha256 (str, optional): Expected hex digest (or its first 8+ digits). Defaults to None.
        offline (bool, optional): Never use the network. Defaults to ``MMHSSL_OFFLINE``.
        progress (bool): Show a download progress bar. Defaults to True.
        what (str, optional): What the file is, for messages. Defaults to ``url`` or ``path``.
        note (str): Why there is no ``url``, for the message when the file is missing.

    Raises:
        CheckpointNotFoundError: Not cached and not downloadable (no ``url``, or offline).
        DownloadError: The download failed. ChecksumError: The file is damaged.
    """
    offline = offline_mode() if offline is None else offline
    what = what or url or path
    if osp.isfile(path):
        if not sha256:
            warnings.warn(f'{path}: no sha256 is recorded for {what}; the file is used unverified.')
            return path
        try:
            verify_sha256(path, sha256)
            return path
        except ChecksumError as e:
            if offline or not url:
                raise ChecksumError(f'The cached checkpoint of {what} is damaged: {e} Replace '
                                    f'it with the file from {url or "its source"}.') from None
            warnings.warn(f'The cached checkpoint of {what} is damaged ({e}); downloading it '
                          'again.')
            os.remove(path)
    if not url:
        raise CheckpointNotFoundError(f'{what} has no downloadable checkpoint: {note} To use '
                                      'your own weights, pass pretrained=PATH, or place them at '
                                      f'{path}.')
    source = f'{url} (sha256 {sha256})' if sha256 else url
    if offline:
        raise CheckpointNotFoundError(f'{what}: {path} is not cached and downloads are disabled '
                                      f'({OFFLINE_ENV}=1). Download {source} and place it at '
                                      f'{path}.')
    try:
        return download_file(url, path, sha256=sha256, progress=progress)
    except ChecksumError:
        raise
    except DownloadError as e:
        raise DownloadError(f'{e} To use {what} without downloading, get {source} elsewhere and '
                            f'place it at {path}.') from None
