"""tools/train.py --compile turns on mmengine's torch.compile of the training step."""
import importlib.util
import os.path as osp

from conftest import DEMO_CONFIG, ROOT
from mmengine.config import Config

_spec = importlib.util.spec_from_file_location('train_tool', osp.join(ROOT, 'tools/train.py'))
train_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_tool)


def test_compile_flag_sets_cfg_compile():
    for argv, expected in (([DEMO_CONFIG, '--compile'], True), ([DEMO_CONFIG], None)):
        args = train_tool.parse_args(argv)
        cfg = train_tool.merge_args(Config.fromfile(DEMO_CONFIG), args)
        assert cfg.get('compile') is expected
