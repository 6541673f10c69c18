"""Every non-optimizer schedule of the SSL recipes, computed in one place.

The learning rate and weight decay live in the optimizer's param groups and follow mmengine's
``param_scheduler`` (so that they are saved and resumed by the runner). Everything else that
changes over training (teacher momentum, teacher temperatures, the frozen prototype layer) is a pure
function of the training progress defined here; :class:`~mmhssl.engine.hooks.HSSLScheduleHook`
evaluates them every iteration, so a resumed run recomputes exactly the same values.
"""
import math


def cosine(start: float, end: float, step: int, total: int) -> float:
    """Cosine ramp from ``start`` (at ``step=0``) to ``end`` (at ``step=total``).

    Args:
        start (float): Value at the first step.
        end (float): Value at the last step.
        step (int): Current step.
        total (int): Number of steps of the ramp; the value stays at ``end`` after it.

    Returns:
        float: ``end + (start - end) * (1 + cos(pi * step / total)) / 2``.
    """
    if total <= 0 or step >= total:
        return end
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * step / total))


def linear_warmup(start: float, end: float, epoch: int, warmup_epochs: int) -> float:
    """iBOT/DINO's teacher-temperature warm-up: ``linspace(start, end, warmup_epochs)[epoch]``.

    Args:
        start (float): Value at epoch 0.
        end (float): Value reached at epoch ``warmup_epochs - 1`` and kept afterwards.
        epoch (int): Current (0-based) epoch.
        warmup_epochs (int): Length of the warm-up in epochs.

    Returns:
        float: The scheduled value.
    """
    if epoch >= warmup_epochs:
        return end
    if warmup_epochs == 1:
        return start
    return start + (end - start) * epoch / (warmup_epochs - 1)
