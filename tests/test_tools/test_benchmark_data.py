"""Smoke test of tools/analysis/benchmark_data.py on real photos (no timing thresholds)."""
import importlib.util
import json
import os.path as osp

import pytest
from conftest import DEMO_CONFIG, ROOT

_path = osp.join(ROOT, 'tools/analysis/benchmark_data.py')
_spec = importlib.util.spec_from_file_location('benchmark_data', _path)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_pipeline_throughput_json(photos_dir, tmp_path):
    out = tmp_path / 'data.json'
    result = bench.main([
        DEMO_CONFIG, '--images',
        str(photos_dir), '--num-images', '3', '--profile', '--json',
        str(out)
    ])
    assert json.loads(out.read_text()) == result
    assert result['images'] == 3
    assert result['images_per_s_per_worker'] > 0 and result['ms_per_image'] > 0


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match='no images'):
        bench.main([DEMO_CONFIG, '--images', str(tmp_path)])


def test_in_memory_dataset_with_batched_preprocessor(monkeypatch):
    # Fashion-MNIST: items come from the config's dataset and the views from its batched
    # preprocessor, which must really run (a broken preprocessor would raise here).
    from fashion_mnist_utils import IBOT_CONFIG, fmnist_root
    fmnist_root()
    calls = []
    from mmhssl.models.utils import BatchMultiCropPreprocessor
    original = BatchMultiCropPreprocessor.forward

    def counted(self, data, training=False):
        out = original(self, data, training)
        calls.append([tuple(v.shape) for v in out['inputs']])
        return out

    monkeypatch.setattr(BatchMultiCropPreprocessor, 'forward', counted)
    result = bench.main(
        [IBOT_CONFIG, '--num-images', '20', '--cfg-options', 'train_dataloader.batch_size=8'])
    assert result['images'] == 20 and result['batched_preprocessor']
    assert [len(c) for c in calls] == [6, 6, 6] and calls[0][0] == (8, 3, 28, 28)
    assert calls[-1][0] == (4, 3, 28, 28) and result['cpu_seconds'] > 0
