"""``import mmhssl`` registers our classes and changes nothing else in the libraries it extends."""
import json
import os
import subprocess
import sys

from conftest import ROOT

# Run in a fresh interpreter: the test session has imported mmhssl long ago.
PROBE = r'''
import importlib, json, pickle, sys, tempfile, types
import torch

MODULES = ['mmengine.runner.checkpoint', 'mmengine.runner.runner', 'mmengine.dist.utils',
           'mmengine.config.config', 'mmengine.utils.package_utils', 'mmengine.fileio.io',
           'mmcv', 'mmcv.image', 'mmcv.image.photometric', 'mmpretrain.datasets.transforms',
           'torch.serialization']
OPTIONAL = ['mmdet', 'mmdet.registry', 'mmdet.apis', 'mmseg', 'mmseg.registry', 'mmseg.apis']
modules = [importlib.import_module(m) for m in MODULES]
for name in OPTIONAL:
    try:
        modules.append(importlib.import_module(name))
    except Exception:  # not installed, or rejects this mmcv: nothing of it to change
        pass
from mmengine.runner.checkpoint import CheckpointLoader


class NotAllowListed:
    pass


path = tempfile.mktemp(suffix='.pth')
torch.save({'state_dict': {}, 'meta': NotAllowListed()}, path)


def snapshot():
    attrs = {m.__name__: {k: id(v) for k, v in vars(m).items()} for m in modules}
    try:  # which loader mmengine uses for local files, seen through its public API
        CheckpointLoader.load_checkpoint(path, map_location='cpu', logger='silent')
        local = 'loaded'
    except Exception as e:
        local = f'{type(e).__module__}.{type(e).__name__}'
    return attrs, local, [repr(g) for g in torch.serialization.get_safe_globals()]


before = snapshot()
import mmhssl  # noqa: E402
after = snapshot()
changed = {}
for name, old in before[0].items():
    new, mod = after[0][name], sys.modules[name]
    diff = [k for k in old if new.get(k) != old[k]]
    # A submodule imported for the first time becomes an attribute of its package: not a change.
    diff += [k for k in new if k not in old and not isinstance(vars(mod)[k], types.ModuleType)]
    if diff:
        changed[name] = diff
print(json.dumps(dict(changed=changed, loader=[before[1], after[1]],
                      safe_globals=[before[2], after[2]])))
'''


def test_import_registers_and_patches_nothing():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', PROBE],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report['changed'] == {}
    assert report['loader'][0] == report['loader'][1] != 'loaded'  # mmengine's own local loader
    assert report['safe_globals'][0] == report['safe_globals'][1]


def test_mmcv_lite_warning_is_not_printed_and_warnings_are_left_alone():
    # mmcv-lite's situation in this environment: its compiled ops cannot be imported.
    probe = (
        'import sys, warnings; sys.modules["mmcv.ops"] = None; import mmhssl; '
        'patterns = [f[1].pattern for f in warnings.filters if f[1] is not None]; '
        'assert not any("MultiScaleDeformable" in p for p in patterns), patterns; '
        # a filter mmengine installs on import is still in place
        'assert "numpy.ndarray size changed" in patterns, patterns')
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-W', 'default', '-c', probe],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'mmcv-lite' not in out.stderr, out.stderr[-3000:]
