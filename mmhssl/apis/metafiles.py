"""The metafiles of the model zoo: where they are, their entries as written, and their validation.

``model-index.yml`` imports one ``metafile.yml`` per config folder, in OpenMMLab's format (read by
``modelindex``, ``mim`` and :class:`mmpretrain.apis.ModelHub`). On top of that format, an entry
may carry ``SHA256`` (required with ``Weights``), ``Weights Format`` (``mmhssl`` or ``official``),
``Weights Note`` (required without ``Weights``) and ``Training Config`` (when ``Config`` is the
``<Name>_headless.py`` config of the published backbone, the config that trained it); ``Weights``
is an http(s) URL or a file shipped with the package, relative to :func:`zoo_root`.
:func:`validate_metafile` is what CI checks.
"""
import os.path as osp
import re
from typing import List, Optional

import yaml

from .official import CHECKPOINT_FORMATS

REQUIRED_METADATA = ('Epochs', 'Batch Size', 'Training Data', 'Architecture')
#: Suffix of the config of a published backbone (a headless classifier, as in mmpretrain's zoo).
HEADLESS = '_headless'


def zoo_root(package_dir: Optional[str] = None) -> str:
    """The folder of ``model-index.yml``: ``mmhssl/.mim`` when installed, else the checkout root.

    Args:
        package_dir (str, optional): The ``mmhssl`` package folder. Defaults to this package.
    """
    package_dir = package_dir or osp.dirname(osp.dirname(osp.abspath(__file__)))
    candidates = [osp.join(package_dir, '.mim'), osp.dirname(package_dir)]
    for root in candidates:
        if osp.isfile(osp.join(root, 'model-index.yml')):
            return root
    raise FileNotFoundError(f'No model-index.yml in {" or ".join(candidates)}; the package is '
                            'installed without its model zoo index. Reinstall it from a checkout.')


def is_packaged(weights: Optional[str]) -> bool:
    """Whether ``Weights`` is a file shipped with the package (relative to :func:`zoo_root`)."""
    return bool(weights) and '://' not in str(weights)


def metafile_paths(root: Optional[str] = None) -> List[str]:
    """The metafiles imported by ``model-index.yml`` (absolute paths), in order."""
    root = root or zoo_root()
    with open(osp.join(root, 'model-index.yml')) as f:
        imports = (yaml.safe_load(f) or {}).get('Import') or []
    return [osp.normpath(osp.join(root, p)) for p in imports]


def metafile_entries(root: Optional[str] = None) -> List[dict]:
    """The model entries of the metafiles of ``model-index.yml``, as written, in order."""
    entries = []
    for path in metafile_paths(root):
        with open(path) as f:
            entries += (yaml.safe_load(f) or {}).get('Models') or []
    return entries


def validate_metafile(path: str, root: Optional[str] = None) -> List[str]:
    """Problems in a metafile, one message each; an empty list when it is complete.

    Each model needs ``Name`` (the stem of its existing ``Config``), ``In Collection`` (a collection
    of the file), ``Metadata`` with :data:`REQUIRED_METADATA`, ``Results`` (null or a list of
    ``Task``/``Dataset``/``Metrics``), a ``Paper`` with ``Title`` and ``URL`` (its own or its
    collection's), and either ``Weights`` with a 64-digit ``SHA256`` or a ``Weights Note``.

    Args:
        path (str): The metafile.
        root (str, optional): Where relative ``Config`` and packaged ``Weights`` paths start.
            Defaults to the metafile's folder for configs and :func:`zoo_root` for weights.
    """
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    collections = {c.get('Name'): c for c in data.get('Collections') or [] if isinstance(c, dict)}
    problems = [] if data.get('Models') else ['no Models']
    for i, raw in enumerate(data.get('Models') or []):
        name, weights, sha256 = str(raw.get('Name') or ''), raw.get('Weights'), raw.get('SHA256')
        config = osp.join(root or osp.dirname(osp.abspath(path)), raw.get('Config') or '')
        where = f'{osp.basename(path)} model {name or f"#{i}"}'
        if not name:
            problems.append(f'{where}: no Name')
        if not raw.get('Config') or not osp.isfile(config):
            problems.append(f'{where}: Config {raw.get("Config")!r} does not exist')
        elif osp.splitext(osp.basename(config))[0] not in (name, name + HEADLESS):
            problems.append(f'{where}: Name is not the stem of its Config (or of its '
                            f'"{HEADLESS}" variant)')
        training = raw.get('Training Config')
        if training and not osp.isfile(osp.join(root or osp.dirname(osp.abspath(path)), training)):
            problems.append(f'{where}: Training Config {training!r} does not exist')
        elif training and osp.splitext(osp.basename(training))[0] != name:
            problems.append(f'{where}: Name is not the stem of its Training Config')
        if raw.get('In Collection') not in collections:
            problems.append(f'{where}: In Collection {raw.get("In Collection")!r} is not among '
                            f'the collections of the file {list(collections)}')
        metadata = raw.get('Metadata') or {}
        missing = [k for k in REQUIRED_METADATA if metadata.get(k) in (None, '', [])]
        if missing:
            problems.append(f'{where}: Metadata lacks {missing}')
        if 'Results' not in raw:
            problems.append(f'{where}: no Results (write "Results: null" when none are known)')
        for result in raw.get('Results') or []:
            if not (isinstance(result, dict)
                    and all(result.get(k) for k in ('Task', 'Dataset', 'Metrics'))):
                problems.append(f'{where}: a result lacks Task, Dataset or Metrics: {result}')
        paper = raw.get('Paper') or collections.get(raw.get('In Collection'), {}).get('Paper')
        if not (isinstance(paper, dict) and paper.get('Title') and paper.get('URL')):
            problems.append(f'{where}: no Paper with Title and URL (in the model or its '
                            'collection)')
        if is_packaged(weights):
            if not osp.isfile(osp.join(root or zoo_root(), weights)):
                problems.append(f'{where}: packaged Weights {weights!r} do not exist')
        elif weights and not str(weights).startswith(('http://', 'https://')):
            problems.append(f'{where}: Weights is neither an http(s) URL nor a packaged file')
        if weights and not re.fullmatch(r'[0-9a-f]{64}', str(sha256 or '').lower()):
            problems.append(f'{where}: Weights without a 64-digit SHA256')
        if not weights and not str(raw.get('Weights Note') or '').strip():
            problems.append(f'{where}: neither Weights nor a Weights Note saying why not')
        if not weights and sha256:
            problems.append(f'{where}: SHA256 without Weights')
        if raw.get('Weights Format', 'mmhssl') not in CHECKPOINT_FORMATS:
            problems.append(f'{where}: Weights Format must be one of {CHECKPOINT_FORMATS}')
    return problems
