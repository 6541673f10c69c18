import math

import numpy as np
import pytest

from mmhssl.engine.hooks import HSSLScheduleHook
from mmhssl.engine.ssl_schedules import cosine, linear_warmup


def test_cosine_matches_dino_schedule():
    # DINO: final + 0.5 * (base - final) * (1 + cos(pi * i / len)), i over all iterations.
    total = 50
    ref = 1.0 + 0.5 * (0.996 - 1.0) * (1 + np.cos(np.pi * np.arange(total) / total))
    ours = [cosine(0.996, 1.0, i, total) for i in range(total)]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)
    assert cosine(0.996, 1.0, total, total) == 1.0


def test_teacher_temperature_warmup_matches_linspace():
    ref = np.concatenate([np.linspace(0.04, 0.07, 30), np.full(70, 0.07)])
    ours = [linear_warmup(0.04, 0.07, e, 30) for e in range(100)]
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_hook_values():
    hook = HSSLScheduleHook(
        momentum=(0.99, 1.0),
        teacher_temp=(0.04, 0.07),
        warmup_epochs=3,
        freeze_last_layer_epochs=2)
    v = hook.values(it=0, max_iters=10, epoch=0)
    assert v['momentum'] == pytest.approx(0.99) and v['teacher_temp'] == pytest.approx(0.04)
    assert v['freeze_last_layer'] is True
    v = hook.values(it=5, max_iters=10, epoch=2)
    assert v['momentum'] == pytest.approx(0.995)
    assert v['teacher_temp'] == pytest.approx(0.07) and v['freeze_last_layer'] is False
    assert math.isclose(hook.values(1, 10, 1)['teacher_patch_temp'], 0.055)
