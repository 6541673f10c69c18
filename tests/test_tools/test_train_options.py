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


def test_mixed_precision_configs_try_on_a_cpu_with_no_amp():
    import pytest
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    config = osp.join(ROOT,
                      'configs/hssl/hssl-ibot_vit-small-p16_aux-convnext3_8xb32-amp-100e_in1k.py')
    plain = train_tool.merge_args(Config.fromfile(config), train_tool.parse_args([config]))
    if not torch.cuda.is_available():
        # One line that names the way out, before mmengine's AMP wrapper asserts.
        with pytest.raises(SystemExit, match='needs a GPU; to try it on this CPU, add --no-amp'):
            train_tool.check_amp_device(plain, config)
    cfg = train_tool.merge_args(
        Config.fromfile(config), train_tool.parse_args([config, '--no-amp']))
    train_tool.check_amp_device(cfg, config)
    assert cfg.optim_wrapper.type == 'SSLOptimWrapper'
    assert 'dtype' not in cfg.optim_wrapper and 'loss_scale' not in cfg.optim_wrapper
    # The config's own wrapper (student-only constructor, per-tensor clipping) builds on a CPU.
    model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper).__name__ == 'SSLOptimWrapper'
    assert wrapper.clip_grad_per_param == cfg.optim_wrapper.clip_grad_per_param


def test_bf16_configs_do_not_scale_the_loss():
    import glob
    for config in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True):
        wrapper = Config.fromfile(config).get('optim_wrapper') or {}
        if wrapper.get('dtype') == 'bfloat16':
            # bf16 has float32's exponent range: a loss scaler only costs an unscale per step.
            assert wrapper.get('loss_scale') == dict(enabled=False), config
