"""A checkpoint hook that never leaves a work dir without an intact checkpoint."""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from ...utils.checkpoint import _write_atomic, remove_stale_temporaries

_KEPT = 'kept_checkpoints'  # message hub key: the paths that max_keep_ckpts counts


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook``, but no crash can leave the work dir without a checkpoint.

    - ``max_keep_ckpts`` removes an old checkpoint only after the new one is complete (mmengine
      removes it before writing the new one, so a crash in between left nothing to resume from).
    - Before training, the temporary files of writes that were killed mid-way are removed.
    - A resume that finds ``last_checkpoint`` empty, dangling or naming a truncated file continues
      from the newest intact checkpoint beside it, with a warning naming both; a resume that finds
      no checkpoint at all says so instead of silently starting from scratch.

    Args:
        max_keep_ckpts (int): The most checkpoints to keep; -1 keeps all. Defaults to -1.
        **kwargs: Other arguments of :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, max_keep_ckpts: int = -1, **kwargs) -> None:
        super().__init__(max_keep_ckpts=-1, **kwargs)
        self.keep = max_keep_ckpts
        self.kept: List[str] = []

    def before_run(self, runner) -> None:
        # The runner reads last_checkpoint right after before_run when it resumes by itself.
        cfg = runner.cfg
        if cfg.get('resume') and cfg.get('load_from') is None:
            self._check_last_checkpoint(runner)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():
            for path in remove_stale_temporaries(self.out_dir):
                print_log(
                    f'Removed {path}, left by a checkpoint write that did not finish.',
                    logger='current')
        self.kept = list(runner.message_hub.get_info(_KEPT) or [])
        # A checkpoint holds the list as it was before it was itself written.
        resumed = runner.message_hub.get_info('last_ckpt')
        if resumed and resumed not in self.kept:
            self.kept.append(resumed)

    def after_train_epoch(self, runner) -> None:
        previous = self.last_ckpt
        super().after_train_epoch(runner)
        self._forget_old(runner, previous)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        previous = self.last_ckpt
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self._forget_old(runner, previous)

    def _forget_old(self, runner, previous: Optional[str]) -> None:
        """Once a new checkpoint is complete, remove the ones beyond ``max_keep_ckpts``."""
        if self.last_ckpt is None or self.last_ckpt == previous:
            return
        self.kept = [p for p in self.kept if p != self.last_ckpt] + [self.last_ckpt]
        while 0 < self.keep < len(self.kept):
            old = self.kept.pop(0)
            if is_main_process() and self.file_backend.isfile(old):
                self.file_backend.remove(old)
        runner.message_hub.update_info(_KEPT, list(self.kept))

    def _check_last_checkpoint(self, runner) -> None:
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        named = None
        if osp.isfile(pointer):
            with open(pointer) as f:
                named = f.read().strip() or None
        if named and _problem(named) is None:
            return
        if named:
            why = f'{pointer} names {named}, which {_problem(named)}'
        else:
            why = f'{pointer} is empty' if osp.isfile(pointer) else f'there is no {pointer}'
        folders = [runner.work_dir] + ([osp.dirname(named)] if named else [])
        for candidate in self._checkpoints_in(folders):
            if candidate != named and _problem(candidate) is None:
                print_log(
                    f'Resume: {why}; resuming from {candidate} instead, the newest intact '
                    'checkpoint.',
                    logger='current',
                    level=logging.WARNING)
                # Every rank writes the same bytes, so none reads the old pointer afterwards.
                _write_atomic(pointer, lambda f: f.write(candidate.encode()))
                return
        if named is None:
            print_log(
                f'Resume: found no checkpoint in {runner.work_dir}, so training starts from '
                'scratch. If you meant to continue a run, check the work dir.',
                logger='current',
                level=logging.WARNING)

    def _checkpoints_in(self, folders: List[str]) -> List[str]:
        """This hook's checkpoints in ``folders``, newest (highest step) first."""
        name = re.compile(re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
        found = {}
        for folder in folders:
            if osp.isdir(folder):
                for entry in sorted(os.listdir(folder)):
                    match = name.match(entry)
                    if match:
                        found[osp.join(folder, entry)] = int(match.group(1))
        return sorted(found, key=found.get, reverse=True)


def _problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None when it is a complete checkpoint archive."""
    if not osp.isfile(path):
        return 'does not exist'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member and checks its CRC, unpickles nothing
    except (zipfile.BadZipFile, OSError):
        return 'is truncated or not a checkpoint'
    return None if bad is None else f'is damaged ({bad})'
