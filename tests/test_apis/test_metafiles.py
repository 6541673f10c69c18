"""Every entry of every metafile that model-index.yml lists: complete, unique, config builds."""
import glob
import os.path as osp

import modelindex
import pytest
from mmengine.config import Config
from mmengine.registry import MODELS
from mmpretrain.models.selfsup import BaseSelfSupervisor

from mmhssl.apis.model_zoo import load_zoo, metafile_paths, read_metafile, validate_metafile, \
    zoo_root

ROOT = zoo_root()
METAFILES = metafile_paths(ROOT)
ENTRIES = [m for path in METAFILES for m in read_metafile(path, ROOT)]


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
    names = [m.name for m in ENTRIES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert sorted(load_zoo(include_extra=False)) == sorted(names)
    for m in ENTRIES:  # Downstream lists name entries of the zoo
        assert set(m.raw.get('Downstream') or []) <= set(names), m.name


def test_every_pretraining_and_benchmark_config_has_an_entry():
    configs = glob.glob(osp.join(ROOT, 'configs', 'hssl', '**', '*.py'), recursive=True)
    configs += glob.glob(osp.join(ROOT, 'configs', 'benchmarks', 'imagenet', '*.py'))
    stems = {osp.splitext(osp.basename(c))[0] for c in configs}
    assert stems <= {m.name for m in ENTRIES}, sorted(stems - {m.name for m in ENTRIES})


def test_openmmlab_modelindex_reads_the_same_models():
    index = modelindex.load(osp.join(ROOT, 'model-index.yml'))
    assert sorted(m.name for m in index.models) == sorted(m.name for m in ENTRIES)
    errors = [e for e in index.collect_check_errors() if e['errors']]
    assert errors == []


@pytest.mark.parametrize('entry', ENTRIES, ids=lambda m: m.name)
def test_config_loads_and_builds(entry):
    cfg = Config.fromfile(entry.config)
    assert cfg.get('default_scope') and cfg.get('model', {}).get('type'), \
        f'{_rel(entry.config)} lacks default_scope or model.type'
    with MODELS.switch_scope_and_registry(cfg.default_scope) as registry:
        cls = registry.get(cfg.model.type)
        if cfg.default_scope == 'mmpretrain':
            assert cls is not None, f'unknown model type {cfg.model.type!r}'
        if cls is None or not issubclass(cls, BaseSelfSupervisor):
            return  # downstream configs: loading and the required fields are checked
        model = registry.build(cfg.model)  # pretraining configs build
    assert isinstance(model, cls)
