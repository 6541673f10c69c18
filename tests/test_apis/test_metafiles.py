"""Every entry of every metafile that model-index.yml lists: complete, unique, config builds."""
import glob
import os
import os.path as osp
import shutil

import modelindex
import pytest
import yaml
from mmengine.config import Config
from mmengine.registry import MODELS
from mmpretrain.models.selfsup import BaseSelfSupervisor
from zoo_server import write_metafile

from mmhssl.apis import list_models
from mmhssl.apis.metafiles import metafile_entries, metafile_paths, validate_metafile, zoo_root

ROOT = zoo_root()
METAFILES = metafile_paths(ROOT)
ENTRIES = metafile_entries(ROOT)


def _rel(path):
    return osp.relpath(path, ROOT)


def test_model_index_imports_every_metafile():
    on_disk = glob.glob(osp.join(ROOT, 'configs', '**', 'metafile.yml'), recursive=True)
    on_disk += glob.glob(osp.join(ROOT, 'projects', '**', 'metafile.yml'), recursive=True)
    assert METAFILES, 'model-index.yml imports no metafile'
    assert sorted(map(_rel, on_disk)) == sorted(map(_rel, METAFILES))


@pytest.mark.parametrize('metafile', METAFILES, ids=_rel)
def test_metafile_is_complete(metafile):
    assert validate_metafile(metafile, ROOT) == []


def test_names_are_unique():
    names = [m['Name'] for m in ENTRIES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert list_models() == sorted(names)  # the index as registered with ModelHub
    for m in ENTRIES:  # Downstream lists name entries of the zoo
        assert set(m.get('Downstream') or []) <= set(names), m['Name']


def test_every_pretraining_and_benchmark_config_has_an_entry():
    configs = glob.glob(osp.join(ROOT, 'configs', 'hssl', '**', '*.py'), recursive=True)
    configs += glob.glob(osp.join(ROOT, 'configs', 'benchmarks', 'imagenet', '*.py'))
    stems = {osp.splitext(osp.basename(c))[0] for c in configs}
    names = {m['Name'] for m in ENTRIES}
    assert stems <= names, sorted(stems - names)


def test_openmmlab_modelindex_reads_the_same_models():
    index = modelindex.load(osp.join(ROOT, 'model-index.yml'))
    assert sorted(m.name for m in index.models) == sorted(m['Name'] for m in ENTRIES)
    errors = [e for e in index.collect_check_errors() if e['errors']]
    assert errors == []


@pytest.mark.parametrize('entry', ENTRIES, ids=lambda m: m['Name'])
def test_config_loads_and_builds(entry):
    cfg = Config.fromfile(osp.join(ROOT, entry['Config']))
    assert cfg.get('default_scope') and cfg.get('model', {}).get('type'), \
        f'{entry["Config"]} lacks default_scope or model.type'
    with MODELS.switch_scope_and_registry(cfg.default_scope) as registry:
        cls = registry.get(cfg.model.type)
        if cfg.default_scope == 'mmpretrain':
            assert cls is not None, f'unknown model type {cfg.model.type!r}'
        if cls is None or not issubclass(cls, BaseSelfSupervisor):
            return  # downstream configs: loading and the required fields are checked
        model = registry.build(cfg.model)  # pretraining configs build
    assert isinstance(model, cls)


def test_zoo_root_of_installed_package_and_checkout(tmp_path):
    pkg = tmp_path / 'site' / 'mmhssl'
    (pkg / '.mim').mkdir(parents=True)
    (pkg / '.mim' / 'model-index.yml').write_text('Import: []\n')
    assert zoo_root(str(pkg)) == str(pkg / '.mim')
    shutil.rmtree(pkg / '.mim')
    (tmp_path / 'site' / 'model-index.yml').write_text('Import: []\n')
    assert zoo_root(str(pkg)) == str(tmp_path / 'site')
    os.remove(tmp_path / 'site' / 'model-index.yml')
    with pytest.raises(FileNotFoundError, match='model-index.yml'):
        zoo_root(str(pkg))


def test_validation_names_every_problem(tmp_path):
    sha = 'ab' * 32
    path = write_metafile(
        str(tmp_path), [
            dict(Name='good', Weights='https://x.org/good.pth', SHA256=sha),
            dict(Name='no-note'),
            dict(
                Name='bad-sha',
                Weights='https://x.org/b.pth',
                SHA256='abc',
                **{'Weights Format': 'timm'}),
            dict(Name='ftp', Weights='ftp://x.org/f.pth', SHA256=sha),
            dict(Name='packaged', Weights='checkpoints/not-there.pth', SHA256=sha),
            dict(Name='stray-sha', SHA256=sha, **{'Weights Note': 'Not trained yet.'}),
            dict(
                Name='loose',
                Config='elsewhere.py',
                **{
                    'In Collection': 'Other',
                    'Weights Note': 'Not trained yet.'
                }),
        ])
    with open(path) as f:
        data = yaml.safe_load(f)
    loose = data['Models'][-1]
    del loose['Results'], loose['Metadata']['Epochs']
    data['Collections'][0].pop('Paper')
    data['Models'][0]['Paper'] = dict(Title='Good', URL='https://x.org/good')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    problems = validate_metafile(path, str(tmp_path))
    expected = {
        'no-note': ['neither Weights nor a Weights Note'],
        'bad-sha': ['64-digit SHA256', 'Weights Format must be one of'],
        'ftp': ['neither an http(s) URL nor a packaged file'],
        'packaged': ["packaged Weights 'checkpoints/not-there.pth' do not exist"],
        'stray-sha': ['SHA256 without Weights'],
        'loose': [
            "Config 'elsewhere.py' does not exist", "In Collection 'Other'",
            "Metadata lacks ['Epochs']", 'no Results'
        ],
    }
    for name, fragments in expected.items():
        found = [p for p in problems if p.startswith(f'metafile.yml model {name}: ')]
        for fragment in fragments:
            assert any(fragment in p for p in found), (name, fragment, found)
    # Every model but the first lacks a Paper (the collection's was removed).
    papers = [p for p in problems if 'no Paper with Title and URL' in p]
    assert len(papers) == len(data['Models']) - 1 and 'model good:' not in ' '.join(problems)
    assert len(problems) == sum(map(len, expected.values())) + len(papers)
