"""How tools/train.py turns its options into the config the runner gets."""
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


def test_a_run_shorter_than_the_warmup_leaves_the_decay_out():
    # 10 warm-up epochs; the lr decay has no end and would begin where a 10-epoch run ends.
    config = osp.join(ROOT,
                      'configs/hssl/hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-100e_in1k.py')
    args = train_tool.parse_args([config])
    for epochs, expected in ((10, ['LinearLR', 'CosineAnnealingWeightDecay']),
                             (11, ['LinearLR', 'CosineAnnealingLR', 'CosineAnnealingWeightDecay'])):
        cfg = Config.fromfile(config)
        cfg.train_cfg.max_epochs = epochs
        cfg = train_tool.merge_args(cfg, args)
        assert [s['type'] for s in cfg.param_scheduler] == expected
