import os

import pytest
import torch
from download import main
from zoo_server import FileServer, sha256_bytes, tiny_checkpoint, write_metafile

from mmhssl.apis.layouts import rename_vit
from mmhssl.apis.model_zoo import METAFILES_ENV
from mmhssl.utils import load_checkpoint_file


def test_download_tool_fetches_verifies_and_converts(tmp_path, monkeypatch, capsys):
    data, state = tiny_checkpoint(str(tmp_path / 'tiny.pth'))
    teacher = {
        k[len('teacher.backbone.'):]: v
        for k, v in state.items()
        if k.startswith('teacher.backbone.') and not k.endswith('mask_token')
    }
    official = dict(teacher={
        'backbone.' + k: v
        for k, v in rename_vit(teacher, 'mmpretrain', 'timm')[0].items()
    })
    torch.save(official, str(tmp_path / 'official.pth'))
    official_bytes = (tmp_path / 'official.pth').read_bytes()
    with FileServer() as server:
        server.files.update({'tiny.pth': data, 'official.pth': official_bytes, 'bad.pth': data})
        server.faults['bad.pth'] = 'truncate'
        metafile = write_metafile(
            str(tmp_path), [
                dict(
                    Name='tool-test_tiny',
                    Weights=server.url('tiny.pth'),
                    SHA256=sha256_bytes(data)),
                dict(
                    Name='tool-test_official',
                    Weights=server.url('official.pth'),
                    SHA256=sha256_bytes(official_bytes),
                    **{'Weights Format': 'official'}),
                dict(
                    Name='tool-test_bad', Weights=server.url('bad.pth'), SHA256=sha256_bytes(data)),
            ])
        monkeypatch.setenv(METAFILES_ENV, metafile)
        assert main(['--list',
                     'tool-test_*']) == ['tool-test_bad', 'tool-test_official', 'tool-test_tiny']
        dest = tmp_path / 'dest'
        tiny, converted = main(['tool-test_tiny', 'tool-test_official', '--dest', str(dest)])
        with pytest.raises(SystemExit, match='download.py: error: .*(sha256|hash)'):
            main(['tool-test_bad', '--dest', str(dest)])
    assert tiny == str(dest / 'tiny.pth') and (dest / 'tiny.pth').read_bytes() == data
    assert converted == str(dest / 'official_mmhssl.pth')
    assert sorted(os.listdir(dest)) == ['official.pth', 'official_mmhssl.pth', 'tiny.pth']
    out = capsys.readouterr().out
    assert f'sha256={sha256_bytes(data)}' in out
    loaded = load_checkpoint_file(converted)['state_dict']
    assert set(loaded) == {'backbone.' + k for k in teacher}
    for k, v in teacher.items():
        assert torch.equal(loaded['backbone.' + k], v)
