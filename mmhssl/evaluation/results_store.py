"""A results table that builds up across sittings: finished runs in one JSON file, one setting.

Benchmarks run for hours on small machines, in several sittings, sometimes side by side. Each
finished run is written at once under a lock (each writer re-reads the file first, so concurrent
sittings keep each other's runs), and a file of another setting is refused rather than mixed into
the same table.
"""
import contextlib
import json
import os
import os.path as osp
import statistics
from typing import Iterator, Optional, Sequence, Tuple

from .report import write_json


class ResultsStore:
    """Finished runs of one setting in ``path``; the lock file lives in ``lock_dir``.

    Args:
        path (str): The JSON file (``{"setting": ..., "runs": {key: result}}``).
        setting (dict): What must be equal for runs to share the table.
        lock_dir (str): Folder of the lock file (a work folder, never the results folder).
    """

    def __init__(self, path: str, setting: dict, lock_dir: str) -> None:
        self.path = path
        self.setting = json.loads(json.dumps(setting))  # as it reads back from the file
        self.lock_path = osp.join(lock_dir, osp.basename(path) + '.lock')

    def load(self) -> dict:
        """The stored report, or an empty one.

        Raises:
            SystemExit: The file holds runs of another setting.
        """
        if not osp.isfile(self.path):
            return dict(setting=self.setting, runs={})
        with open(self.path) as f:
            report = json.load(f)
        if report['setting'] != self.setting:
            changed = sorted(
                k for k in set(self.setting) | set(report['setting'])
                if report['setting'].get(k) != self.setting.get(k))
            raise SystemExit(
                f'{self.path} holds runs of another setting (differs in {changed}). Use another '
                'output (and work folder) for this setting, or delete the file to start over.')
        return report

    @contextlib.contextmanager
    def update(self) -> Iterator[dict]:
        """The report as stored now, written back when the block ends, under an exclusive lock."""
        import fcntl
        os.makedirs(osp.dirname(osp.abspath(self.lock_path)), exist_ok=True)
        with open(self.lock_path, 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            report = self.load()
            yield report
            write_json(self.path, report)

    def add(self, key: str, result: dict, **fields) -> dict:
        """Store one finished run (and top-level ``fields``); returns the whole report."""
        with self.update() as report:
            report['runs'][key] = result
            report.update(fields)
        return report


def mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (None for a single value)."""
    if len(values) < 2:
        return values[0], None
    return statistics.mean(values), statistics.stdev(values)


def fmt_mean_std(values: Sequence[float], digits: int = 2) -> str:
    """``mean ± std`` (or the single value)."""
    mean, std = mean_std(values)
    return f'{mean:.{digits}f}' if std is None else f'{mean:.{digits}f} ± {std:.{digits}f}'


def spearman(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    """Spearman's rank correlation of paired values (ties share their mean rank).

    Returns:
        float | None: None for fewer than 3 pairs or when one side is constant.
    """
    if len(x) != len(y):
        raise ValueError(f'{len(x)} values against {len(y)}: the pairs must match.')
    if len(x) < 3:
        return None

    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    rx, ry = ranks(list(x)), ranks(list(y))
    if len(set(rx)) == 1 or len(set(ry)) == 1:
        return None
    return statistics.correlation(rx, ry)
