"""The transfer benchmark: each task's shipped config through the real runner for a few
iterations (finite losses, the task's metric on a handful of images or scenes), runs stored and
skipped next time, and a table of another setting refused."""
import json
import math
import os.path as osp

import pytest
from fashion_mnist_utils import fmnist_root

pytestmark = [pytest.mark.downstream, pytest.mark.slow]


@pytest.fixture(scope='module')
def smoke_table(tmp_path_factory):
    from benchmarks import transfer
    fmnist_root()
    tmp = tmp_path_factory.mktemp('transfer')
    argv = [
        '--smoke', '--seeds', '0', '--work-dir',
        str(tmp / 'work'), '--data-root',
        str(tmp / 'scenes'), '--out',
        str(tmp / 'transfer')
    ]
    report = transfer.main(argv)
    return argv, report, tmp


def test_every_task_and_row_runs_on_the_real_stack(smoke_table):
    from benchmarks.transfer import ROWS, TASKS
    _, report, tmp = smoke_table
    assert sorted(report['runs']) == sorted(f'{t}/{r}/0' for t in TASKS for r in ROWS)
    for key, run in report['runs'].items():
        assert set(run['metrics']) == set(TASKS[run['task']][1]), key
        assert all(math.isfinite(v) for v in run['metrics'].values()), key
        assert run['iterations'] >= 2, key
        # Losses were finite at every logged step (mmengine's scalar log of the run).
        logs = sorted(
            (tmp / 'work' / run['task']
             ).glob(f'*/{run["row"].lower().replace(" ", "_")}_seed0/*/vis_data/scalars.json'))
        assert logs, key
        losses = [rec['loss'] for line in open(logs[-1]) if 'loss' in (rec := json.loads(line))]
        assert losses and all(math.isfinite(v) for v in losses), key
    md = open(str(tmp / 'transfer.md')).read()
    assert '## detection' in md and '## Checks (generated)' in md
    assert 'HSSL-iBOT minus iBOT' in md


def test_pretrained_rows_load_the_zoo_file_and_random_init_none(smoke_table):
    from benchmarks.transfer import build_cfg, config_digest, parse_args

    from mmhssl.apis import fetch_checkpoint
    argv, _, _ = smoke_table
    args = parse_args(argv)
    for task in ('finetune-1pct', 'detection', 'segmentation'):
        rnd = build_cfg(task, 'Random init', 0, args)
        hssl = build_cfg(task, 'HSSL-iBOT', 0, args)
        assert rnd.model.backbone.init_cfg is None
        assert hssl.model.backbone.init_cfg.checkpoint == fetch_checkpoint(
            'hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist')
        # A run resumes only checkpoints of the same recipe.
        assert f'/{config_digest(task)}/' in rnd.work_dir
        # Nothing else differs between the rows.
        rnd.model.backbone.init_cfg = hssl.model.backbone.init_cfg = None
        rnd.work_dir = hssl.work_dir = rnd.visualizer.name = hssl.visualizer.name = None
        assert rnd.pretty_text == hssl.pretty_text


def test_finished_runs_are_skipped_and_a_removed_one_is_made_again(smoke_table):
    from benchmarks import transfer
    argv, _, tmp = smoke_table
    path = str(tmp / 'transfer.json')
    with open(path) as f:
        stored = json.load(f)
    key = 'finetune-1pct/iBOT/0'
    del stored['runs'][key]
    with open(path, 'w') as f:
        json.dump(stored, f)
    report = transfer.main(argv + ['--tasks', 'finetune-1pct', 'finetune-10pct'])
    assert key in report['runs']
    for other, run in stored['runs'].items():
        assert report['runs'][other] == run, f'{other} was run again'


def test_a_changed_setting_is_refused(smoke_table):
    from benchmarks import transfer
    argv, _, tmp = smoke_table
    real = [a for a in argv if a != '--smoke']  # the real scenes: another setting
    with pytest.raises(SystemExit, match='another setting'):
        transfer.main(real + ['--render-only', '--tasks', 'finetune-1pct'])
    assert osp.isfile(str(tmp / 'transfer.json'))
