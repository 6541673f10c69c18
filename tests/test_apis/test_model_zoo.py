import os
import os.path as osp

import pytest
import torch
from conftest import tiny_model_cfg
from mmpretrain.apis import ModelHub
from mmpretrain.registry import MODELS
from zoo_server import FileServer, sha256_bytes, tiny_checkpoint, write_metafile

from mmhssl.apis import (CheckpointNotFoundError, checkpoint_path, fetch_checkpoint, get_model,
                         get_model_info, list_models)
from mmhssl.apis.layouts import rename_vit
from mmhssl.apis.metafiles import zoo_root
from mmhssl.apis.model_zoo import METAFILES_ENV
from mmhssl.models import HSSLAlgorithm, MaskedVisionTransformer
from mmhssl.utils import ChecksumError, DownloadError, save_checkpoint_atomic

SHIPPED = 'hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k'


@pytest.fixture(scope='module')
def zoo(tmp_path_factory):
    """A served zoo: a verified entry, a corrupted one, an unpublished one and an official one."""
    folder = tmp_path_factory.mktemp('zoo')
    data, state = tiny_checkpoint(str(folder / 'tiny.pth'))
    sha = sha256_bytes(data)
    teacher = {
        k[len('teacher.backbone.'):]: v
        for k, v in state.items() if k.startswith('teacher.backbone.')
    }
    # The authors' layout: timm-style keys under 'backbone.' in teacher/student dicts.
    official = {
        part: {
            'backbone.' + k: v
            for k, v in rename_vit({
                n: t
                for n, t in teacher.items() if n != 'mask_token'
            }, 'mmpretrain', 'timm')[0].items()
        }
        for part in ('teacher', 'student')
    }
    torch.save(official, str(folder / 'official.pth'))
    official_bytes = (folder / 'official.pth').read_bytes()
    server = FileServer().start()
    server.files.update({
        f'zoo-test_tiny_20261128-{sha[:8]}.pth': data,
        'zoo-test_corrupt.pth': data,
        'zoo-test_official.pth': official_bytes,
    })
    server.faults['zoo-test_corrupt.pth'] = 'corrupt'
    metafile = write_metafile(
        str(folder), [
            dict(
                Name='zoo-test_tiny',
                Weights=server.url(f'zoo-test_tiny_20261128-{sha[:8]}.pth'),
                SHA256=sha),
            dict(Name='zoo-test_corrupt', Weights=server.url('zoo-test_corrupt.pth'), SHA256=sha),
            dict(Name='zoo-test_unpublished', **{'Weights Note': 'Not published; train it.'}),
            dict(
                Name='zoo-test_official',
                Weights=server.url('zoo-test_official.pth'),
                SHA256=sha256_bytes(official_bytes),
                **{'Weights Format': 'official'}),
        ])
    yield dict(server=server, metafile=metafile, data=data, state=state, teacher=teacher, sha=sha)
    server.stop()


@pytest.fixture
def env(zoo, monkeypatch, tmp_path):
    """The served zoo registered, an empty cache as MMHSSL_HOME, downloads allowed."""
    monkeypatch.setenv(METAFILES_ENV, zoo['metafile'])
    monkeypatch.setenv('MMHSSL_HOME', str(tmp_path / 'home'))
    monkeypatch.delenv('MMHSSL_OFFLINE', raising=False)
    zoo['server'].requests.clear()
    return str(tmp_path / 'home' / 'checkpoints')


def _assert_state_equal(module, expected):
    got = module.state_dict()
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


def test_list_models(zoo, env):
    assert SHIPPED in list_models()
    assert list_models('ZOO-TEST_*') == [
        'zoo-test_corrupt', 'zoo-test_official', 'zoo-test_tiny', 'zoo-test_unpublished'
    ]
    assert list_models('HSSL-IBOT_vit-base*100e*') == [SHIPPED]
    with pytest.raises(KeyError, match='Did you mean zoo-test_tiny'):
        get_model_info('zoo-test_tin')
    # Registered with mmpretrain's ModelHub, config paths relative to the metafile.
    assert ModelHub.get('zoo-test_tiny').config.filename == osp.join(
        osp.dirname(zoo['metafile']), 'zoo-test_tiny.py')


def test_pretrained_download_then_offline(zoo, env):
    model = get_model('zoo-test_tiny', pretrained=True, progress=False)
    assert isinstance(model, HSSLAlgorithm) and not model.training
    _assert_state_equal(model, zoo['state'])
    name = f'zoo-test_tiny_20261128-{zoo["sha"][:8]}.pth'
    assert os.listdir(env) == [name]
    assert open(osp.join(env, name), 'rb').read() == zoo['data']

    # Cached: no request reaches the server, even with the network allowed.
    zoo['server'].requests.clear()
    backbone = get_model('zoo-test_tiny', pretrained=True, backbone_only=True)
    assert zoo['server'].requests == []
    assert isinstance(backbone, MaskedVisionTransformer)
    # The teacher (EMA) backbone by default; mask_token is not part of the exported weights.
    expected = dict(zoo['teacher'], mask_token=backbone.mask_token)
    _assert_state_equal(backbone, expected)
    student = get_model('zoo-test_tiny', pretrained=True, backbone_only=True, part='student')
    assert torch.equal(student.pos_embed, zoo['state']['backbone.pos_embed'])
    assert not torch.equal(student.pos_embed, backbone.pos_embed)


def test_same_name_works_after_the_server_stopped(zoo, env, monkeypatch, tmp_path):
    folder = tmp_path / 'zoo2'
    folder.mkdir()
    with FileServer() as server:
        server.files['short-lived.pth'] = zoo['data']
        metafile = write_metafile(
            str(folder), [
                dict(
                    Name='zoo-test_short-lived',
                    Weights=server.url('short-lived.pth'),
                    SHA256=zoo['sha'])
            ])
        monkeypatch.setenv(METAFILES_ENV, os.pathsep.join([zoo['metafile'], metafile]))
        with pytest.raises(CheckpointNotFoundError):  # nothing cached yet and offline
            fetch_checkpoint('zoo-test_short-lived', offline=True)
        fetch_checkpoint('zoo-test_short-lived', progress=False)
    # The server is gone (its port refuses connections); the cached file is enough.
    model = get_model('zoo-test_short-lived', pretrained=True)
    _assert_state_equal(model, zoo['state'])
    monkeypatch.setenv('MMHSSL_OFFLINE', '1')
    model = get_model('zoo-test_short-lived', pretrained=True)
    _assert_state_equal(model, zoo['state'])
    # Not cached and the server unreachable: a fast failure naming the file to place.
    monkeypatch.delenv('MMHSSL_OFFLINE')
    os.remove(checkpoint_path('zoo-test_short-lived'))
    with pytest.raises(DownloadError, match='Could not reach') as e:
        get_model('zoo-test_short-lived', pretrained=True, progress=False)
    assert 'place it at ' + checkpoint_path('zoo-test_short-lived') in str(e.value)


def test_missing_checkpoint_fails_fast_naming_the_file(zoo, env, monkeypatch):
    monkeypatch.setenv('MMHSSL_OFFLINE', '1')
    info = get_model_info('zoo-test_tiny')
    with pytest.raises(CheckpointNotFoundError) as e:
        get_model('zoo-test_tiny', pretrained=True)
    assert zoo['server'].requests == []
    message = str(e.value)
    assert osp.join(env, osp.basename(info.weights)) in message and info.weights in message
    assert zoo['sha'] in message


def test_unpublished_entry_says_so_and_uses_a_placed_file(zoo, env):
    with pytest.raises(CheckpointNotFoundError, match='Not published; train it') as e:
        get_model('zoo-test_unpublished', pretrained=True)
    target = osp.join(env, 'zoo-test_unpublished.pth')
    assert target in str(e.value)
    os.makedirs(env, exist_ok=True)
    save_checkpoint_atomic(dict(state_dict=zoo['state']), target)
    with pytest.warns(UserWarning, match='unverified'):
        model = get_model('zoo-test_unpublished', pretrained=True)
    _assert_state_equal(model, zoo['state'])


def test_corrupted_download_is_rejected(zoo, env):
    with pytest.raises(ChecksumError):
        get_model('zoo-test_corrupt', pretrained=True, progress=False)
    assert not osp.exists(env) or os.listdir(env) == []


def test_damaged_cache_is_downloaded_again(zoo, env):
    path = fetch_checkpoint('zoo-test_tiny', progress=False)
    with open(path, 'r+b') as f:
        f.seek(100)
        f.write(b'\0' * 16)
    zoo['server'].requests.clear()
    with pytest.warns(UserWarning, match='damaged'):
        assert fetch_checkpoint('zoo-test_tiny', progress=False) == path
    assert len(zoo['server'].requests) == 1
    assert open(path, 'rb').read() == zoo['data']
    with open(path, 'r+b') as f:
        f.write(b'\0' * 16)
    with pytest.raises(ChecksumError, match='damaged'):
        fetch_checkpoint('zoo-test_tiny', offline=True)


def test_official_entry_is_converted_on_load(zoo, env):
    backbone = get_model('zoo-test_official', pretrained=True, backbone_only=True, progress=False)
    _assert_state_equal(backbone, dict(zoo['teacher'], mask_token=backbone.mask_token))
    with pytest.raises(ValueError, match='backbone_only=True'):
        get_model('zoo-test_official', pretrained=True)


def test_pretrained_path_and_url(zoo, env, tmp_path):
    path = tmp_path / 'local.pth'
    path.write_bytes(zoo['data'])
    model = get_model('zoo-test_unpublished', pretrained=str(path))
    _assert_state_equal(model, zoo['state'])
    url = zoo['server'].url(f'zoo-test_tiny_20261128-{zoo["sha"][:8]}.pth')
    backbone = get_model('zoo-test_unpublished', pretrained=url, backbone_only=True, progress=False)
    assert torch.equal(backbone.pos_embed, zoo['teacher']['pos_embed'])
    # A URL whose name carries a sha256 prefix is verified.
    zoo['server'].files['bad-0123abcd.pth'] = zoo['data']
    with pytest.raises(ChecksumError):
        get_model(
            'zoo-test_unpublished',
            pretrained=zoo['server'].url('bad-0123abcd.pth'),
            progress=False)


def test_checkpoint_of_another_architecture_is_refused(zoo, env, tmp_path):
    path = str(tmp_path / 'wide.pth')
    wide = MODELS.build(tiny_model_cfg(embed_dims=48))
    save_checkpoint_atomic(dict(state_dict=wide.state_dict()), path)
    with pytest.raises(ValueError, match='do not fit the backbone of zoo-test_tiny'):
        get_model('zoo-test_tiny', pretrained=path, backbone_only=True)
    with pytest.raises(ValueError, match='do not fit the model zoo-test_tiny'):
        get_model('zoo-test_tiny', pretrained=path)


def test_zoo_scheme_in_init_cfg(zoo, env):
    cfg = tiny_model_cfg()['backbone']
    cfg['init_cfg'] = dict(
        type='Pretrained', checkpoint='mmhssl://zoo-test_tiny', prefix='teacher.backbone.')
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    for k, v in zoo['teacher'].items():
        assert torch.equal(backbone.state_dict()[k], v), k
    assert os.listdir(env) == [osp.basename(checkpoint_path('zoo-test_tiny'))]


def test_packaged_weights_are_verified_in_place(zoo, env, monkeypatch, tmp_path):
    # Any file shipped with the package serves; fetching only verifies and locates it.
    shipped = osp.join(zoo_root(), 'model-index.yml')
    sha = sha256_bytes(open(shipped, 'rb').read())
    metafile = write_metafile(
        str(tmp_path), [
            dict(Name='zoo-test_packaged', Weights='model-index.yml', SHA256=sha),
            dict(Name='zoo-test_packaged-damaged', Weights='model-index.yml', SHA256=sha[::-1]),
            dict(Name='zoo-test_packaged-missing', Weights='checkpoints/none.pth', SHA256=sha)
        ])
    monkeypatch.setenv(METAFILES_ENV, metafile)
    assert fetch_checkpoint('zoo-test_packaged', offline=True) == shipped
    assert not osp.exists(env)  # nothing copied into the cache
    with pytest.raises(ChecksumError, match='model-index.yml has sha256'):
        fetch_checkpoint('zoo-test_packaged-damaged')
    with pytest.raises(CheckpointNotFoundError, match='reinstall mmhssl'):
        fetch_checkpoint('zoo-test_packaged-missing')


def test_untrained_model_by_name():
    model = get_model(SHIPPED.replace('vit-base', 'vit-small'), backbone_only=True)
    assert isinstance(model, MaskedVisionTransformer) and model.embed_dims == 384
