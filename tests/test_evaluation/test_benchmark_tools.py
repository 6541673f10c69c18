import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from fashion_mnist_utils import ROOT, fmnist_root

from mmhssl.evaluation import knn_accuracy, linear_probe

sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))

import knn as knn_tool  # noqa: E402
import linear_probe as linear_tool  # noqa: E402

# Two very different real classes, 100 training and 100 test images each.
EASY = [
    '--cfg-options', "eval_dataloaders.train.dataset.classes=['Trouser','Bag']",
    'eval_dataloaders.train.dataset.num_per_class=100',
    "eval_dataloaders.test.dataset.classes=['Trouser','Bag']",
    'eval_dataloaders.test.dataset.num_per_class=100'
]


@pytest.mark.slow
def test_knn_tool_recovers_easy_labels_and_noise_does_not(trained_run, tmp_path):
    cfg_file, ckpt = trained_run
    out = str(tmp_path / 'knn.json')
    report = knn_tool.main([cfg_file, ckpt, '--k', '10', '20', '--out', out, '--device', 'cpu'] +
                           EASY)
    with open(out) as f:
        assert json.load(f) == report
    assert report['classes'] == ['Trouser', 'Bag'] and report['num_test'] == 200
    assert [r['k'] for r in report['knn']] == [10, 20]
    for r in report['knn']:
        assert r['top1'] > 80 and r['top5'] is None  # chance is 50
    assert report['environment']['torch'] == torch.__version__
    # The same labels with features that carry no information: close to chance.
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    noise = knn_accuracy(
        torch.randn(200, 32, generator=g), labels, torch.randn(200, 32, generator=g), labels)
    assert 35 < noise['top1'] < 65


@pytest.mark.slow
def test_linear_probe_tool_recovers_easy_labels_and_noise_does_not(trained_run, tmp_path):
    cfg_file, ckpt = trained_run
    out = str(tmp_path / 'linear.json')
    report = linear_tool.main([
        cfg_file, ckpt, '--feature', 'concat', '--num-blocks', '2', '--lrs', '0.01', '0.1',
        '--epochs', '20', '--out', out
    ] + EASY)
    assert osp.isfile(out) and report['feature_dim'] == 64
    result = report['linear_probe']
    assert result['top1'] > 80 and result['lr'] in (0.01, 0.1)
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    noise = linear_probe(
        torch.randn(200, 64, generator=g),
        labels,
        torch.randn(200, 64, generator=g),
        labels,
        lrs=(0.01, 0.1),
        epochs=20)
    assert 35 < noise['top1'] < 65


@pytest.mark.slow
def test_results_are_printed_first_and_written_into_the_work_dir(trained_run, tmp_path, capsys,
                                                                 monkeypatch):
    cfg_file, ckpt = trained_run
    monkeypatch.chdir(tmp_path)
    knn_tool.main([cfg_file, ckpt, '--k', '10', '--device', 'cpu'] + EASY)
    assert not any(f.endswith('.json') for f in os.listdir(osp.dirname(ckpt)))
    assert os.listdir(tmp_path / 'work_dirs' / 'config') == ['epoch_2_knn_cls.json']
    # A folder that cannot be created (a file is in the way) loses nothing that was computed.
    blocked = tmp_path / 'a_file'
    blocked.write_text('')
    with pytest.raises(SystemExit, match='linear_probe.py: error: Could not write the result'):
        linear_tool.main([
            cfg_file, ckpt, '--lrs', '0.1', '--epochs', '2', '--device', 'cpu', '--work-dir',
            str(blocked / 'work')
        ] + EASY)
    assert 'linear probe (lr 0.1): top-1' in capsys.readouterr().out


def _bench_args(tmp_path, *extra):
    return [
        '--epochs', '2', '--seeds', '0', '--control-seeds', '--num-per-class', '3',
        '--eval-num-per-class', '3', '--test-num-per-class', '2', '--online-num-per-class', '4',
        '2', '--linear-epochs', '2', '--batch-size', '10', '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(tmp_path / 'results' / 'fmnist'), *extra
    ]


@pytest.mark.slow
def test_fashion_mnist_benchmark_resumes_and_accumulates(tmp_path):
    fmnist_root()
    import fashion_mnist as bench
    out = str(tmp_path / 'results' / 'fmnist')
    # First sitting: a time limit of 0 stops the first training run after its first epoch.
    first = bench.main(_bench_args(tmp_path, '--time-limit', '0'))
    assert set(first['runs']) == {'Raw pixels', 'Random init/0'}
    work = tmp_path / 'work' / 'ibot_seed0'
    assert (work / 'epoch_1.pth').is_file() and not (work / 'epoch_2.pth').exists()
    # Second sitting: finished runs are kept, the interrupted one resumes at epoch 2.
    report = bench.main(_bench_args(tmp_path))
    assert list(report['runs']) == ['Raw pixels', 'Random init/0', 'iBOT/0', 'HSSL-iBOT/0']
    assert bench.plan(bench.parse_args(
        ['--seeds', '0',
         '1']))[:5] == ['Raw pixels', 'Random init/0', 'iBOT/0', 'HSSL-iBOT/0', 'Random init/1']
    assert report['runs']['Raw pixels'] == first['runs']['Raw pixels']
    ibot = report['runs']['iBOT/0']
    assert ibot['sittings'] == 2 and ibot['iterations'] == 2 * 3  # 30 images / batch 10
    epochs = [e for e, _ in ibot['online_knn']]  # both sittings, from the start to the end
    assert epochs[0] == 0 and epochs[-1] == 2 and epochs == sorted(set(epochs))
    assert report['runs']['HSSL-iBOT/0']['sittings'] == 1
    for run in report['runs'].values():
        assert run['knn']['num_train'] == 30 and run['knn']['num_test'] == 20
        assert 0 <= run['linear']['top1'] <= 100
    with open(out + '.md') as f:
        table = f.read()
    for row in ('| Raw pixels | - |', '| Random init | 0 |', '| iBOT | 0 |', '| HSSL-iBOT | 0 |',
                'torch ', 'Command', 'over random init'):
        assert row in table
    with open(out + '.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # A wider linear-probe sweep is stored apart from the table's own numbers.
    swept = bench.main(_bench_args(tmp_path, '--resweep', '1', '0.1'))
    assert swept['runs'] == report['runs']
    sweep = swept['linear_sweep']
    assert sweep['lrs'] == [0.1, 1.0]
    assert set(sweep['runs']) == {'Random init/0', 'iBOT/0', 'HSSL-iBOT/0'}  # pixels have no lr
    for run in sweep['runs'].values():
        assert set(run['val_top1']) == {'0.1', '1.0'} and run['lr'] in (0.1, 1.0)
    with open(out + '.md') as f:
        assert '| iBOT/0 | ' in f.read().split('wider sweep (generated)')[1]
    # Another setting is refused instead of being mixed into the same table.
    with pytest.raises(SystemExit, match='another setting'):
        bench.main(_bench_args(tmp_path, '--epochs', '3'))


@pytest.mark.slow
def test_missing_checkpoint_is_a_clear_error(trained_run, tmp_path):
    cfg_file, _ = trained_run
    with pytest.raises(SystemExit, match='knn.py: error: .*does not exist'):
        knn_tool.main([cfg_file, str(tmp_path / 'nope.pth')])


def test_fashion_mnist_checks_pair_runs_by_seed():
    import fashion_mnist as bench

    def run(method, seed, knn, linear):
        return {
            'method': method,
            'seed': seed,
            'knn': {
                'top1': knn
            },
            'linear': {
                'top1': linear,
                'lr_at_sweep_edge': method == 'Random init'
            }
        }

    runs = [
        run('Random init', 0, 50., 60.),
        run('Random init', 1, 52., 61.),
        run('iBOT', 0, 70., 72.),
        run('iBOT', 1, 74., 75.),
        run('HSSL-iBOT', 0, 73., 74.),
        run('HSSL-iBOT', 1, 75., 79.),
        run('HSSL-iBOT (MLP head)', 1, 71., 76.)
    ]
    report = {'runs': {f'{r["method"]}/{r["seed"]}': r for r in runs}}
    lines = bench.summary_lines(report)
    text = '\n'.join(lines)
    assert '- HSSL-iBOT minus iBOT, knn top-1, paired by seed: +3.00, +1.00 (mean +2.00' in text
    # The control ran seed 1 only, so it is compared with seed 1 of the others, not their means.
    assert '- HSSL-iBOT (MLP head) minus iBOT, knn top-1, paired by seed: -3.00.' in text
    assert '- HSSL-iBOT minus HSSL-iBOT (MLP head), linear top-1, paired by seed: +3.00.' in text
    assert 'iBOT: kNN 72.00 ± 2.83 over 2 seed(s), +21.00 points over random init' in text
    assert 'at an end of the sweep for 2 of 7 runs (Random init/0, Random init/1)' in text
    assert 'a wider sweep may raise their linear top-1' in text
    # A wider sweep that reached one of them is reported, not guessed at.
    report['linear_sweep'] = {'lrs': [1.0, 10.0], 'runs': {'Random init/1': {'top1': 61.5}}}
    text = '\n'.join(bench.summary_lines(report))
    assert 'Random init/1); the wider sweep below moves 1 of them by +0.50 to +0.50 points' in text


@pytest.mark.slow
def test_fashion_mnist_benchmark_counts_the_minutes_of_a_killed_sitting(tmp_path):
    """A sitting killed mid-run keeps the minutes of the epochs its checkpoint holds."""
    fmnist_root()
    import fashion_mnist as bench
    argv = _bench_args(tmp_path, '--only', 'iBOT/0')
    argv[argv.index('--epochs') + 1] = '3'
    argv[argv.index('--num-per-class') + 1] = '30'  # 30 iterations per epoch: time to kill
    segments = tmp_path / 'work' / 'ibot_seed0' / 'segments.json'
    tool = osp.join(ROOT, 'tools', 'benchmarks', 'fashion_mnist.py')
    proc = subprocess.Popen([sys.executable, tool, *argv],
                            cwd=ROOT,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not segments.is_file():
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed = json.loads(segments.read_text())
    assert len(killed) == 1 and 1 <= killed[0]['end_epoch'] < 3 and killed[0]['minutes'] > 0
    run = bench.main(argv)['runs']['iBOT/0']
    sittings = json.loads(segments.read_text())
    assert sittings[0] == killed[0]
    assert [s['end_epoch'] for s in sittings] == [killed[0]['end_epoch'], 3]
    assert run['sittings'] == 2
    assert run['train_minutes'] == pytest.approx(sum(s['minutes'] for s in sittings))
