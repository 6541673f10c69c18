"""The built-in auxiliary-head candidates of the search, by name."""
import ast
from typing import Dict, Tuple, Union

#: Auxiliary heads covering the architecture families of the methods (``neck`` configs without
#: the base-dependent fields, which :func:`resolve_candidate` fills in).
CANDIDATES: Dict[str, dict] = {
    **{
        f'convnext-d{d}-k{k}': dict(type='AuxConvNeXtHead', depth=d, kernel_size=k)
        for d in (1, 2, 3)
        for k in (3, 7)
    },
    'transformer-d1': dict(type='AuxTransformerHead', depth=1),
    'transformer-d2': dict(type='AuxTransformerHead', depth=2),
    'mlp-d2': dict(type='AuxMLPHead', depth=2),
}


def resolve_candidate(spec: Union[str, dict]) -> Tuple[str, dict]:
    """Turn a candidate name or config snippet into ``(name, neck_cfg)``.

    Args:
        spec (str | dict): A key of :data:`CANDIDATES`, a dict, or a Python dict literal such as
            ``"{'type': 'AuxMLPHead', 'depth': 1}"``.

    Returns:
        tuple: Display name and a copy of the neck config.
    """
    if isinstance(spec, dict):
        return _snippet_name(spec), dict(spec)
    if spec in CANDIDATES:
        return spec, dict(CANDIDATES[spec])
    if spec.lstrip().startswith('{'):
        try:
            cfg = ast.literal_eval(spec)
        except (ValueError, SyntaxError) as e:
            raise ValueError(f'Candidate {spec!r} is not a valid dict literal ({e}).') from e
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise ValueError(f'Candidate {spec!r} must be a dict with a "type" key.')
        return _snippet_name(cfg), cfg
    raise ValueError(f'Unknown candidate {spec!r}. Use one of {sorted(CANDIDATES)} or a dict '
                     "literal such as \"{'type': 'AuxMLPHead', 'depth': 1}\".")


def _snippet_name(cfg: dict) -> str:
    args = ','.join(f'{k}={v}' for k, v in cfg.items() if k != 'type')
    return f"{cfg.get('type', '?')}({args})"


def neck_snippet(cfg: dict) -> str:
    """The ``neck=dict(...)`` line to paste into an HSSL config."""
    return 'neck=dict(' + ', '.join(f'{k}={v!r}' for k, v in cfg.items()) + ')'
