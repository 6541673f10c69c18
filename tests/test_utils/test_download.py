import os
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


def test_dropped_connection_leaves_nothing_in_the_cache(server, checkpoint_bytes, tmp_path):
    server.faults[NAME] = 'drop'  # the full length announced, half of it sent
    with pytest.raises(ChecksumError, match='Rejected the download'):
        _download(server, tmp_path / NAME, checkpoint_bytes)
    assert os.listdir(tmp_path) == []  # no partial file under any name
    server.faults.clear()
    assert open(_download(server, tmp_path / NAME, checkpoint_bytes), 'rb').read() == \
        checkpoint_bytes


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
