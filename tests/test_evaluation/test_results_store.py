"""The benchmarks' results store: runs accumulate across writers, another setting is refused, and
the lock stays out of the results folder."""
import json
import multiprocessing as mp
import os

import pytest

from mmhssl.evaluation import ResultsStore, fmt_mean_std, mean_std


def _add_runs(path, lock_dir, writer, count):
    store = ResultsStore(path, dict(epochs=6), lock_dir)
    for i in range(count):
        store.add(f'{writer}/{i}', dict(value=i))


def test_concurrent_writers_keep_each_others_runs(tmp_path):
    path, lock_dir = str(tmp_path / 'results' / 'table.json'), str(tmp_path / 'work')
    ctx = mp.get_context('fork')
    procs = [ctx.Process(target=_add_runs, args=(path, lock_dir, w, 20)) for w in 'ab']
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    runs = ResultsStore(path, dict(epochs=6), lock_dir).load()['runs']
    assert sorted(runs) == sorted(f'{w}/{i}' for w in 'ab' for i in range(20))
    assert os.listdir(tmp_path / 'results') == ['table.json']  # no lock or temporary file
    assert os.path.isfile(tmp_path / 'work' / 'table.json.lock')


def test_another_setting_is_refused_and_the_file_kept(tmp_path):
    path = str(tmp_path / 'table.json')
    ResultsStore(path, dict(epochs=6, seeds=[0]), str(tmp_path)).add('x/0', dict(value=1.0))
    before = open(path).read()
    with pytest.raises(SystemExit, match=r"another setting \(differs in \['epochs'\]\)"):
        ResultsStore(path, dict(epochs=7, seeds=[0]), str(tmp_path)).load()
    assert open(path).read() == before
    assert json.loads(before)['runs'] == {'x/0': dict(value=1.0)}


def test_mean_std():
    assert mean_std([2.0]) == (2.0, None)
    mean, std = mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
    assert fmt_mean_std([1.0, 2.0, 3.0]) == '2.00 ± 1.00'
    assert fmt_mean_std([1.25]) == '1.25'


def test_spearman_ranks_with_ties():
    from mmhssl.evaluation import spearman
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1)
    assert spearman([1, 2, 3], [0.3, 0.2, 0.1]) == pytest.approx(-1)
    assert spearman([1, 2, 3], [5, 9, 7]) == pytest.approx(0.5)  # d = (0, 1, 1): 1 - 6*2/24
    # Tied values share their mean rank: ranks (1, 2.5, 2.5) against (1, 2, 3).
    assert spearman([1, 2, 2], [1, 2, 3]) == pytest.approx(0.8660254, rel=1e-6)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None
    with pytest.raises(ValueError, match='pairs'):
        spearman([1, 2, 3], [1, 2])
