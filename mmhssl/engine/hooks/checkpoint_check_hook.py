"""Refuses to continue from a checkpoint that does not fit the model."""
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from ...apis.backbone_weights import state_mismatches


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Stops with a clear error when ``resume``/``load_from`` loads a checkpoint of another model.

    mmengine loads such checkpoints non-strictly and only warns, so a run would silently continue
    from a half-initialised model (and later overwrite good checkpoints). This hook compares the
    checkpoint's keys and shapes with the model's right after loading.

    Args:
        allow_missing_prefixes (tuple[str]): Model keys that may be absent from the checkpoint.
            Defaults to ``()``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_missing_prefixes: tuple = ()) -> None:
        self.allow_missing_prefixes = tuple(allow_missing_prefixes)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
        problems = state_mismatches(
            get_ori_model(runner.model).state_dict(), state, may_miss=self.allow_missing_prefixes)
        missing, unexpected, mismatched = (problems[k] for k in ('missing', 'unexpected', 'shapes'))
        if not (missing or unexpected or mismatched):
            return
        parts = []
        problems = {'missing': missing, 'unexpected': unexpected, 'shape mismatches': mismatched}
        for name, items in problems.items():
            if items:
                parts.append(f'{len(items)} {name} (e.g. {", ".join(items[:3])})')
        raise ValueError(
            'The checkpoint does not fit this model — it was trained with another architecture or '
            f'config: {"; ".join(parts)}. Resume with the config that produced it; to initialise '
            "only part of the model use model.backbone.init_cfg=dict(type='Pretrained', "
            "checkpoint=..., prefix='backbone.').")
