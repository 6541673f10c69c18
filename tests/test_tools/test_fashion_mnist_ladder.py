"""The Fashion-MNIST benchmark's head ladder: a finished HSSL run stores its base/auxiliary
discrepancy (a stored run gets it back from its checkpoint), and the ladder ranks heads by it."""
import json
import os.path as osp

import pytest
from fashion_mnist_utils import fmnist_root


@pytest.mark.slow
def test_a_finished_hssl_run_stores_its_discrepancy(tmp_path):
    from benchmarks.fashion_mnist import main
    fmnist_root()
    out = str(tmp_path / 'table')
    argv = [
        '--epochs', '2', '--num-per-class', '8', '--batch-size', '8', '--eval-num-per-class', '4',
        '--test-num-per-class', '2', '--online-num-per-class', '2', '2', '--linear-epochs', '2',
        '--work-dir',
        str(tmp_path / 'work'), '--out', out
    ]
    report = main(argv + ['--only', 'Random init/0', 'iBOT/0', 'HSSL-iBOT (MLP head)/0'])
    mlp, ibot = report['runs']['HSSL-iBOT (MLP head)/0'], report['runs']['iBOT/0']
    assert 'discrepancy' not in ibot  # no auxiliary head, nothing to measure
    measured = mlp['discrepancy']
    assert measured['ce'] > 0 and 0 <= measured['cka_distance'] <= 1
    assert measured["num_views"] == measured["num_images"] * 2 * 2  # draws x global crops
    assert 'MLP head: discrepancy (CE) ' + format(measured['ce'], '.3f') in open(out + '.md').read()

    # A run stored without it gets the same measure back from its checkpoint.
    with open(out + '.json') as f:
        stored = json.load(f)
    del stored['runs']['HSSL-iBOT (MLP head)/0']['discrepancy']
    with open(out + '.json', 'w') as f:
        json.dump(stored, f)
    again = main(argv + ['--discrepancy'])['runs']['HSSL-iBOT (MLP head)/0']['discrepancy']
    for key in ('ce', 'cka_distance', 'cka_distance_student'):
        assert again[key] == pytest.approx(measured[key], rel=1e-5)

    # A run whose checkpoint is gone gets it from a re-run of the same seed, kept apart from
    # the run; on one thread the re-run retraces the run exactly.
    with open(out + '.json') as f:
        stored = json.load(f)
    run = stored['runs']['HSSL-iBOT (MLP head)/0']
    del run['discrepancy']
    run['checkpoint'] = str(tmp_path / 'gone.pth')
    with open(out + '.json', 'w') as f:
        json.dump(stored, f)
    with pytest.raises(SystemExit, match=r'not a stored pretraining run; stored: .*MLP head\)/0'):
        main(argv + ['--reproduce', 'Random init/0'])
    run = main(argv + ['--reproduce', 'HSSL-iBOT (MLP head)/0'])['runs']['HSSL-iBOT (MLP head)/0']
    assert 'discrepancy' not in run and run['knn'] == mlp['knn']
    rerun = run['reproduction']
    assert osp.dirname(osp.dirname(rerun['checkpoint'])) == str(tmp_path / 'work' / 'reproduce')
    assert rerun['knn']['top1'] == mlp['knn']['top1']
    assert rerun['linear']['top1'] == mlp['linear']['top1']
    assert rerun['discrepancy']['ce'] == pytest.approx(measured['ce'], rel=1e-5)
    md = open(out + '.md').read()
    assert '(1 of them on the re-run of the same seed)' in md
    assert 'HSSL-iBOT (MLP head)/0 trained again from scratch' in md


def _runs(method, ce, knn, linear):
    return [
        dict(method=method, seed=s, discrepancy=dict(ce=c), knn=dict(top1=k), linear=dict(top1=li))
        for s, (c, k, li) in enumerate(zip(ce, knn, linear))
    ]


def test_the_ladder_ranks_heads_by_discrepancy_and_accuracy():
    from benchmarks.fashion_mnist import HEADS, ladder_lines
    by = {
        HEADS['ConvNeXt']: _runs(HEADS['ConvNeXt'], [3.0, 3.2], [77, 76], [78, 77]),
        HEADS['MLP']: _runs(HEADS['MLP'], [2.0], [74], [77.2]),
    }
    lines = ladder_lines(by)
    assert 'needs the discrepancy of all 3 heads; measured for 2' in lines[-1]
    by[HEADS['transformer']] = _runs(HEADS['transformer'], [1.0, 1.2], [75, 75], [76, 76])
    last = ladder_lines(by)[-1]
    assert 'by discrepancy, largest first: ConvNeXt > MLP > transformer' in last
    assert 'by kNN: ConvNeXt > transformer > MLP' in last
    assert 'discrepancy vs kNN +0.50, vs linear +1.00' in last
