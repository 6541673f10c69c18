import pytest
import torch

from mmhssl.search import distillation_ce, linear_cka


def cka_reference(x, y):
    """CKA through centred Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))."""
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, l_ = x.double() @ x.double().T, y.double() @ y.double().T
    hsic = lambda a, b: torch.trace(a @ h @ b @ h)  # noqa: E731
    return hsic(k, l_) / torch.sqrt(hsic(k, k) * hsic(l_, l_))


def test_linear_cka_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 12, generator=g)
    y = torch.randn(40, 7, generator=g)
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(x, y).item() == pytest.approx(cka_reference(x, y).item(), abs=1e-10)
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))
    assert linear_cka(x @ q * 3.5, y).item() == pytest.approx(linear_cka(x, y).item(), abs=1e-9)
    assert linear_cka(x + 5.0, y).item() == pytest.approx(linear_cka(x, y).item(), abs=1e-9)
    # A related representation scores higher than an unrelated one.
    related = x[:, :7] + 0.1 * torch.randn(40, 7, generator=g)
    assert linear_cka(x, related) > linear_cka(x, y)
    # Not invariant to arbitrary (non-isotropic) scaling: checks it is not a trivial constant.
    scale = torch.ones(12, dtype=torch.float32)
    scale[0] = 30.0
    assert linear_cka(x * scale, y).item() != pytest.approx(linear_cka(x, y).item(), abs=1e-4)


def test_linear_cka_bad_input():
    with pytest.raises(ValueError, match='same samples'):
        linear_cka(torch.randn(5, 3), torch.randn(6, 3))


def test_distillation_ce_matches_formula():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g)
    center = torch.randn(1, 10, generator=g)
    expected = -(torch.softmax(
        (t - center) / 0.04, -1) * torch.log_softmax(s / 0.1, -1)).sum(-1).mean()
    assert distillation_ce(s, t, center, 0.04).item() == pytest.approx(expected.item(), rel=1e-5)
    # Identical sharp distributions give a smaller cross-entropy than mismatched ones.
    assert distillation_ce(t * 0.4, t, torch.zeros(1, 10),
                           0.04) < distillation_ce(-t * 0.4, t, torch.zeros(1, 10), 0.04)
