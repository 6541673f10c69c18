import os
import os.path as osp
import socket

import pytest
from zoo_server import FileServer, sha256_bytes, tiny_checkpoint

from mmhssl.utils.download import (ChecksumError, DownloadError, default_cache_dir, download_file,
                                   verify_sha256)

NAME = 'tiny-hssl.pth'


@pytest.fixture(scope='module')
def checkpoint_bytes(tmp_path_factory):
    data, _ = tiny_checkpoint(str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth'))
    return data


@pytest.fixture
def server(checkpoint_bytes):
    with FileServer() as srv:
        srv.files[NAME] = checkpoint_bytes
        yield srv


def _download(server, dst, data, **kwargs):
    kwargs.setdefault('progress', False)
    kwargs.setdefault('retry_wait', 0)
    return download_file(server.url(NAME), str(dst), sha256=sha256_bytes(data), **kwargs)


def test_correct_download_is_cached_and_verified(server, checkpoint_bytes, tmp_path):
    cache = tmp_path / 'cache'
    path = _download(server, cache / NAME, checkpoint_bytes, progress=True)
    assert path == str(cache / NAME)
    assert open(path, 'rb').read() == checkpoint_bytes
    assert os.listdir(cache) == [NAME]  # no temporary file left behind
    assert server.requests == [(NAME, None)]


@pytest.mark.parametrize('fault', ['corrupt', 'truncate'])
def test_damaged_download_is_rejected_and_leaves_nothing(server, checkpoint_bytes, tmp_path, fault):
    server.faults[NAME] = fault
    cache = tmp_path / 'cache'
    with pytest.raises(ChecksumError, match='Rejected the download'):
        _download(server, cache / NAME, checkpoint_bytes)
    assert os.listdir(cache) == []


def test_dropped_connection_resumes_with_range(server, checkpoint_bytes, tmp_path):
    server.faults[NAME] = 'drop_once'
    path = _download(server, tmp_path / NAME, checkpoint_bytes)
    assert open(path, 'rb').read() == checkpoint_bytes
    half = len(checkpoint_bytes) // 2
    # The second request asks for exactly the bytes that were missing.
    assert server.requests == [(NAME, None), (NAME, f'bytes={half}-')]
    assert os.listdir(tmp_path) == [NAME]


def test_interrupted_download_resumes_in_the_next_call(server, checkpoint_bytes, tmp_path):
    server.faults[NAME] = 'drop'
    dst = tmp_path / NAME
    with pytest.raises(DownloadError, match='run the download again to resume'):
        _download(server, dst, checkpoint_bytes, retries=1)
    part = str(dst) + '.part'
    assert not dst.exists()
    kept = osp.getsize(part)
    assert 0 < kept < len(checkpoint_bytes)
    assert open(part, 'rb').read() == checkpoint_bytes[:kept]

    server.faults.clear()
    server.requests.clear()
    _download(server, dst, checkpoint_bytes)
    assert server.requests == [(NAME, f'bytes={kept}-')]
    assert open(dst, 'rb').read() == checkpoint_bytes
    assert os.listdir(tmp_path) == [NAME]


def test_server_ignoring_range_restarts_cleanly(server, checkpoint_bytes, tmp_path):
    server.faults[NAME] = 'ignore_range'
    dst = tmp_path / NAME
    (tmp_path / (NAME + '.part')).write_bytes(checkpoint_bytes[:100])
    _download(server, dst, checkpoint_bytes)
    assert server.requests == [(NAME, 'bytes=100-')]  # answered with the whole file (200)
    assert dst.read_bytes() == checkpoint_bytes
    assert os.listdir(tmp_path) == [NAME]


def test_stale_partial_file_is_discarded_after_a_checksum_failure(server, checkpoint_bytes,
                                                                  tmp_path):
    dst = tmp_path / NAME
    (tmp_path / (NAME + '.part')).write_bytes(b'x' * 100)  # not a prefix of the real file
    _download(server, dst, checkpoint_bytes)
    assert server.requests == [(NAME, 'bytes=100-'), (NAME, None)]
    assert dst.read_bytes() == checkpoint_bytes


def test_partial_file_longer_than_remote_restarts(server, checkpoint_bytes, tmp_path):
    dst = tmp_path / NAME
    (tmp_path / (NAME + '.part')).write_bytes(b'x' * (len(checkpoint_bytes) + 10))
    _download(server, dst, checkpoint_bytes)
    assert dst.read_bytes() == checkpoint_bytes


def test_http_error_and_unreachable_server(server, tmp_path):
    with pytest.raises(DownloadError, match='HTTP 404'):
        download_file(server.url('missing.pth'), str(tmp_path / 'missing.pth'), progress=False)
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens on this port
    with pytest.raises(DownloadError, match='Could not reach'):
        download_file(f'http://127.0.0.1:{port}/x.pth', str(tmp_path / 'x.pth'), progress=False)
    assert os.listdir(tmp_path) == []


def test_verify_sha256_accepts_prefix_and_rejects_other_files(tmp_path):
    path = tmp_path / 'f.bin'
    path.write_bytes(b'hello')
    digest = sha256_bytes(b'hello')
    verify_sha256(str(path), digest)
    verify_sha256(str(path), digest[:8].upper())
    with pytest.raises(ChecksumError, match='corrupted or truncated'):
        verify_sha256(str(path), sha256_bytes(b'hellO'))
    with pytest.raises(ValueError, match='at least 8'):
        verify_sha256(str(path), digest[:4])


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.delenv('MMHSSL_HOME', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert default_cache_dir() == str(tmp_path / 'xdg' / 'mmhssl' / 'checkpoints')
    monkeypatch.setenv('MMHSSL_HOME', str(tmp_path / 'home'))
    assert default_cache_dir() == str(tmp_path / 'home' / 'checkpoints')
