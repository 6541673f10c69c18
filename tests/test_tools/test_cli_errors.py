"""Expected failures of the tools end with one line naming the problem; --debug shows more."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import DEMO_CONFIG, ROOT
from model_converters.extract_backbone import main as extract_main
from model_converters.import_official import main as import_main


def _tool(name):
    """A module of tools/ by file (``test`` would be Python's own package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'tools_{name}', osp.join(ROOT, 'tools', name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _train(*args):
    env = dict(
        os.environ,
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
        OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600)


def test_a_bad_config_key_is_one_line_and_debug_shows_the_traceback(tmp_path):
    args = [DEMO_CONFIG, '--work-dir', str(tmp_path), '--cfg-options', 'model.neck.kernal_size=5']
    plain = _train(*args)
    assert plain.returncode == 1
    last = plain.stderr.strip().splitlines()[-1]
    assert last.startswith('train.py: error: ') and 'kernal_size' in last, plain.stderr[-2000:]
    assert '--debug' in last and 'Traceback' not in plain.stderr
    debug = _train(*args, '--debug')
    assert debug.returncode == 1 and 'Traceback' in debug.stderr and 'kernal_size' in debug.stderr


def _one_line(run):
    with pytest.raises(SystemExit) as exc:
        run()
    msg = str(exc.value)
    assert '\n' not in msg and 'error: ' in msg and '--debug' in msg
    return msg


def test_missing_files_and_refused_checkpoints_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv('MMHSSL_TRUST_CHECKPOINTS', raising=False)
    test_main = _tool('test.py').main
    msg = _one_line(lambda: test_main([str(tmp_path / 'nope.py'), str(tmp_path / 'x.pth')]))
    assert msg.startswith('test.py: error: ') and 'nope.py' in msg
    evil, marker = tmp_path / 'evil.pth', tmp_path / 'pwned'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _Payload(str(marker))}, evil)
    for main, tool in ((extract_main, 'extract_backbone.py'), (import_main, 'import_official.py')):
        msg = _one_line(lambda: main([str(evil), str(tmp_path / 'out.pth')]))
        assert msg.startswith(f'{tool}: error: Refused to load')
        assert 'MMHSSL_TRUST_CHECKPOINTS=1' in msg and 'Nothing was written' in msg
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()


@pytest.mark.parametrize('main', [extract_main, import_main])
def test_converters_help_has_a_description(main, capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    usage, description = capsys.readouterr().out.split('\n\n')[:2]
    assert description.strip() and description.split()[0] in ('Export', 'Convert'), description
