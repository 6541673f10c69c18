"""Verified, resumable and atomic downloads into the checkpoint cache.

A download is written to ``<file>.part`` next to its destination. When the connection drops, the
transfer continues from the bytes already received with an HTTP ``Range`` request (or starts over
when the server ignores ranges). Only a complete file whose sha256 matches is renamed to its final
name, so a half-downloaded or corrupted file is never found in the cache under a loadable name.

The cache is ``$MMHSSL_HOME/checkpoints``; ``MMHSSL_HOME`` defaults to ``$XDG_CACHE_HOME/mmhssl``,
that is ``~/.cache/mmhssl``. ``MMHSSL_OFFLINE=1`` forbids network access.
"""
import hashlib
import http.client
import os
import os.path as osp
import re
import time
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from typing import Iterator, Optional

HOME_ENV = 'MMHSSL_HOME'
OFFLINE_ENV = 'MMHSSL_OFFLINE'
PART_SUFFIX = '.part'
_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r'bytes\s+(\d+)-(\d+)/(\d+|\*)')


class DownloadError(RuntimeError):
    """Raised when a file could not be downloaded."""


class ChecksumError(DownloadError):
    """Raised when a downloaded or cached file does not have the expected sha256."""


class CheckpointNotFoundError(FileNotFoundError):
    """Raised when a checkpoint is neither cached nor downloadable."""


class _Interrupted(Exception):
    """The transfer stopped before the announced end of the file; worth resuming."""


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


@contextmanager
def _progress_bar(name: str, total: Optional[int], done: int, enabled: bool) -> Iterator:
    """A rich progress bar on stderr; yields a function that advances it by a byte count."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)
    columns = (TextColumn('{task.description}'), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(name, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


def _transfer(url: str, part: str, timeout: float, progress: bool) -> int:
    """Fetch ``url`` into ``part``, continuing an existing partial file when the server allows.

    Returns:
        int: The offset the transfer started from (0 when it started over).

    Raises:
        urllib.error.URLError: The server could not be reached or answered with an error.
        _Interrupted: The connection dropped before the end of the file.
    """
    offset = osp.getsize(part) if osp.exists(part) else 0
    headers = {'User-Agent': 'mmhssl'}
    if offset:
        headers['Range'] = f'bytes={offset}-'
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            # The partial file is not a prefix of the remote one (it is as long or longer).
            os.remove(part)
            raise _Interrupted('the partial file does not fit the remote file') from e
        raise
    except (http.client.HTTPException, ConnectionError) as e:
        # Connected, then dropped before the response: retry like a drop mid-way.
        raise _Interrupted(f'{type(e).__name__}: {e}') from e
    with response:
        total = None
        match = _CONTENT_RANGE.match(response.headers.get('Content-Range', ''))
        if offset and response.status == 206 and match and int(match.group(1)) == offset:
            mode = 'ab'
            if match.group(3) != '*':
                total = int(match.group(3))
        else:
            # The server ignored the range: the body is the whole file.
            offset, mode = 0, 'wb'
            length = response.headers.get('Content-Length')
            total = int(length) if length is not None else None
        try:
            with open(part, mode) as f, _progress_bar(
                    osp.basename(url.split('?')[0]), total, offset, progress) as advance:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    advance(len(chunk))
                f.flush()
                os.fsync(f.fileno())
        except (http.client.HTTPException, ConnectionError, TimeoutError) as e:
            raise _Interrupted(f'{type(e).__name__}: {e}') from e
    size = osp.getsize(part)
    if total is not None and size < total:
        raise _Interrupted(f'the connection closed after {size} of {total} bytes')
    if total is not None and size > total:
        os.remove(part)
        raise _Interrupted(f'received {size} bytes but the server announced {total}')
    return offset


def download_file(url: str,
                  dst: str,
                  sha256: Optional[str] = None,
                  progress: bool = True,
                  retries: int = 3,
                  timeout: float = 30.0,
                  retry_wait: float = 1.0) -> str:
    """Download ``url`` to ``dst``: resumable, verified and atomic.

    An interrupted transfer is resumed up to ``retries`` times. If it still fails, the bytes
    received stay in ``dst + '.part'`` and the next call resumes from there. A file whose sha256
    does not match is deleted; when part of it came from an earlier attempt, the download starts
    over once from the first byte before giving up.

    Args:
        url (str): ``http://`` or ``https://`` address.
        dst (str): Destination path; written only once the file is complete and verified.
        sha256 (str, optional): Expected hex digest (or its first 8+ digits). Defaults to None
            (no verification).
        progress (bool): Show a progress bar on stderr. Defaults to True.
        retries (int): Resumption attempts after a dropped connection. Defaults to 3.
        timeout (float): Socket timeout in seconds. Defaults to 30.
        retry_wait (float): Seconds to wait before the first retry, doubled for each further one.
            Defaults to 1.

    Returns:
        str: ``dst``.

    Raises:
        ChecksumError: The downloaded file has another sha256; nothing is left on disk.
        DownloadError: The server could not be reached, answered with an error, or the
            connection kept dropping.
    """
    if not url.startswith(('http://', 'https://')):
        raise ValueError(f'Only http:// and https:// downloads are supported, got {url!r}.')
    dst = osp.abspath(dst)
    os.makedirs(osp.dirname(dst), exist_ok=True)
    part = dst + PART_SUFFIX
    resumed, restarted, failures = False, False, 0
    while True:
        try:
            resumed |= _transfer(url, part, timeout, progress) > 0
        except _Interrupted as e:
            failures += 1
            if failures > retries:
                kept = osp.getsize(part) if osp.exists(part) else 0
                raise DownloadError(
                    f'Downloading {url} failed {failures} times ({e}). {kept} bytes are kept in '
                    f'{part}; run the download again to resume it.') from None
            time.sleep(retry_wait * 2**(failures - 1))
            continue
        except urllib.error.HTTPError as e:
            raise DownloadError(f'Downloading {url} failed: HTTP {e.code} {e.reason}.') from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, 'reason', e)
            raise DownloadError(f'Could not reach {url} ({reason}).') from None
        if sha256:
            try:
                verify_sha256(part, sha256)
            except ChecksumError as e:
                os.remove(part)
                if resumed and not restarted:
                    # Part of the file came from an earlier attempt; that part may be stale.
                    restarted, resumed = True, False
                    continue
                raise ChecksumError(f'Rejected the download of {url}: {e} Nothing was kept; the '
                                    'file on the server may be damaged.') from None
        os.replace(part, dst)
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
