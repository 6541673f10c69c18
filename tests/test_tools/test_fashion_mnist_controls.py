"""The Fashion-MNIST benchmark's controls: iBOT at HSSL-iBOT's compute trains 8/6 as long, and a
control's runs are checked against its config without invalidating the stored table."""
import pytest


def test_equal_compute_control_trains_longer_with_scaled_schedules():
    from benchmarks.fashion_mnist import build_cfg, parse_args
    args = parse_args(['--epochs', '3', '--num-per-class', '10'])
    ibot, longer = build_cfg('iBOT', 0, args), build_cfg('iBOT (8 epochs)', 0, args)
    assert (ibot.train_cfg.max_epochs, longer.train_cfg.max_epochs) == (3, 4)
    assert longer.param_scheduler[1]['end'] == 4 * ibot.param_scheduler[1]['end'] // 3
    ibot.train_cfg = longer.train_cfg = ibot.param_scheduler = longer.param_scheduler = None
    ibot.work_dir = longer.work_dir = ibot.custom_hooks = longer.custom_hooks = None
    for cfg in (ibot, longer):  # the configs' own schedule variables, overridden above
        for name in ('max_epochs', 'max_iters', 'warmup_iters'):
            cfg.pop(name, None)
    assert ibot.pretty_text == longer.pretty_text  # nothing else differs


def test_plan_and_setting(tmp_path):
    from benchmarks.fashion_mnist import CONTROLS, TABLE_METHODS, parse_args, plan, setting_of
    args = parse_args(['--seeds', '0', '--control-seeds', '1'])
    assert [k for k in plan(args) if k.endswith('/1')
            ] == ['HSSL-iBOT (MLP head)/1', 'iBOT (8 epochs)/1', 'HSSL-iBOT (transformer head)/1']
    # Controls are not part of the table's setting: adding one keeps the stored runs valid.
    assert setting_of(args)['configs'] == TABLE_METHODS
    assert not set(CONTROLS) & set(setting_of(args)['config_sha256'])


def test_a_control_run_of_another_config_version_is_refused():
    from benchmarks.fashion_mnist import check_control_config, config_digest
    method = 'HSSL-iBOT (transformer head)'
    ok = dict(runs={'a/0': dict(method=method, config_sha256=config_digest(method))})
    check_control_config(ok, method)
    stale = dict(runs={'a/0': dict(method=method, config_sha256='0' * 12)})
    with pytest.raises(SystemExit, match='another version of .*transformer2'):
        check_control_config(stale, method)
