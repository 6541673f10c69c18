"""What the Makefile and setup.cfg promise a new user: switching to CUDA ops rebuilds, and every
package mmhssl imports is declared."""
import ast
import configparser
import glob
import os
import os.path as osp
import re
import subprocess
import sys
from importlib import metadata

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _plan(venv: str, *make_args: str) -> str:
    """What ``make env`` would run for this environment folder (dry run, nothing executed)."""
    out = subprocess.run(['make', '-n', '-C', ROOT, 'env', f'VENV={venv}', *make_args],
                         capture_output=True,
                         text=True,
                         check=True)
    return out.stdout


def _environment(tmp_path, stamp: str) -> str:
    venv = str(tmp_path / 'venv')
    os.makedirs(venv)
    open(osp.join(venv, stamp), 'w').close()  # newer than every input of the environment
    return venv


def test_force_cuda_rebuilds_an_existing_light_environment(tmp_path):
    venv = _environment(tmp_path, '.mmhssl-env-lite-v2')
    assert 'setup_env.sh' not in _plan(venv)  # up to date as it is
    plan = _plan(venv, 'FORCE_CUDA=1', 'TORCH_CUDA_ARCH_LIST=9.0')
    assert 'MMHSSL_OPS=1' in plan and '.mmhssl-env-ops-cuda-9.0-v2' in plan


def test_force_cuda_replaces_cpu_ops_and_a_new_arch_list_rebuilds(tmp_path):
    venv = _environment(tmp_path, '.mmhssl-env-ops-cpu-v2')
    plan = _plan(venv, 'FORCE_CUDA=1', 'TORCH_CUDA_ARCH_LIST=9.0')
    assert 'rm -f' in plan and 'MMHSSL_OPS=1' in plan
    open(osp.join(venv, '.mmhssl-env-ops-cuda-9.0-v2'), 'w').close()
    assert 'setup_env.sh' not in _plan(venv, 'FORCE_CUDA=1', 'TORCH_CUDA_ARCH_LIST=9.0')
    assert 'MMHSSL_OPS=1' in _plan(venv, 'FORCE_CUDA=1', 'TORCH_CUDA_ARCH_LIST=8.0')


def _declared(section: str) -> set:
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(ROOT, 'setup.cfg'))
    names = set()
    for line in cfg[section.split(':')[0]][section.split(':')[1]].splitlines():
        line = line.split('#')[0].strip()
        if line:
            names.add(re.split(r'[<>=!;\[ ]', line)[0].lower().replace('_', '-'))
    return names


def _imported_distributions(files) -> set:
    """Distributions of the absolute, third-party imports of ``files``."""
    owners = metadata.packages_distributions()
    found = set()
    for path in files:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split('.')[0]
                if top == 'mmhssl' or top in sys.stdlib_module_names:
                    continue
                found.update(d.lower().replace('_', '-') for d in owners.get(top, [top]))
    return found


def test_every_package_that_mmhssl_imports_is_declared():
    files = glob.glob(osp.join(ROOT, 'mmhssl', '**', '*.py'), recursive=True)
    # The demo's photos come from scikit-image, the `demo` extra.
    demo = [osp.join(ROOT, 'mmhssl', 'datasets', 'skimage_photos.py')]
    missing = (
        _imported_distributions(demo) - _declared('options:install_requires') -
        _declared('options.extras_require:demo'))
    assert not missing, f'imported by the demo modules but not declared: {sorted(missing)}'
    # The scenes of the transfer benchmark write COCO masks with pycocotools, which mmdet (the
    # `downstream` extra) brings.
    scenes = [osp.join(ROOT, 'mmhssl', 'datasets', 'fashion_mnist_scenes.py')]
    core = [
        f for f in files
        if f'{os.sep}downstream{os.sep}' not in f and f not in demo and f not in scenes
    ]
    # mmcv comes with mmengine/mmpretrain's stack as mmcv or mmcv-lite (setup_env.sh chooses).
    missing = _imported_distributions(core) - _declared('options:install_requires') - {
        'mmcv', 'mmcv-lite'
    }
    assert not missing, f'imported by mmhssl but not in install_requires: {sorted(missing)}'
    downstream = [f for f in files if f'{os.sep}downstream{os.sep}' in f] + scenes
    missing = (
        _imported_distributions(downstream) - _declared('options:install_requires') -
        _declared('options.extras_require:downstream') - {'mmcv', 'mmcv-lite'})
    assert not missing, f'imported by mmhssl.downstream but not declared: {sorted(missing)}'


def test_data_check_without_root_names_the_command_and_asks_no_password():
    # A user without root: the missing data is reported with the command to run; nothing is
    # installed and sudo is never called (it would wait for a password). The Makefile is copied to
    # a folder that user can read, wherever the checkout lives.
    import shutil
    import tempfile
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o755)
        shutil.copy(osp.join(ROOT, 'Makefile'), folder)
        out = subprocess.run([
            'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'make', '-s', '-C',
            folder, 'data-check', f'FMNIST={folder}/missing.gz'
        ],
                             capture_output=True,
                             text=True,
                             stdin=subprocess.DEVNULL,
                             timeout=60)
    finally:
        shutil.rmtree(folder)
    assert out.returncode != 0
    assert "run 'make data'" in out.stderr, out.stderr
    assert 'apt-get' not in out.stdout and 'password' not in (out.stdout + out.stderr).lower()


def test_license_and_citation_match_the_package_metadata():
    import yaml
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(ROOT, 'setup.cfg'))
    assert cfg['metadata']['license'] == 'Apache-2.0'
    with open(osp.join(ROOT, 'LICENSE')) as f:
        text = f.read()
    assert 'Apache License' in text and 'Version 2.0' in text
    with open(osp.join(ROOT, 'CITATION.cff')) as f:
        citation = yaml.safe_load(f)
    assert citation['license'] == 'Apache-2.0'
    assert '2310.05108' in str(citation['preferred-citation'])


def test_the_torch_floor_has_the_apis_mmhssl_calls():
    # mmhssl.utils.checkpoint loads with torch.serialization.safe_globals, a context manager that
    # first shipped in torch 2.5; an older torch would install and then fail on the first load.
    from packaging.version import Version
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(ROOT, 'setup.cfg'))
    floors = re.findall(r'^torch>=([\d.]+)', cfg['options']['install_requires'], re.M)
    assert floors, 'setup.cfg must state a torch floor'
    assert Version(floors[0]) >= Version('2.5')
    import torch
    assert hasattr(torch.serialization, 'safe_globals')  # the API the floor stands for


def test_every_pinned_requirement_installs_on_the_declared_python_floor():
    # A pin whose own Requires-Python is stricter than ours would make `pip install mmhssl[tests]`
    # fail on the oldest Python we claim (flake8 7.5 and scikit-image 0.26 need 3.11).
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(ROOT, 'setup.cfg'))
    floor = re.fullmatch(r'>=\s*([\d.]+)', cfg['options']['python_requires'].strip())
    assert floor, 'python_requires must be a plain floor, e.g. >=3.11'
    lines = cfg['options']['install_requires'].splitlines()
    for extra in cfg['options.extras_require'].values():
        lines += extra.splitlines()
    too_new = []
    for line in lines:
        line = line.split('#')[0].strip()
        if '==' not in line:
            continue
        req = Requirement(line)
        try:
            needs = metadata.metadata(req.name).get('Requires-Python')
        except metadata.PackageNotFoundError:
            continue  # an extra this environment does not install (e.g. downstream)
        if needs and not SpecifierSet(needs).contains(floor.group(1)):
            too_new.append(f'{req} needs Python {needs}')
    assert not too_new, f'python_requires {floor.group(0)} is below: {too_new}'
