import math

import pytest
import torch

from mmhssl.evaluation import knn_accuracy, knn_scores, linear_probe, topk_accuracy


def _unit(angle):
    return torch.tensor([math.cos(angle), math.sin(angle)])


def test_votes_are_weighted_by_exp_similarity_over_temperature():
    # Query at angle 0: one class-1 neighbour at similarity 1.0, two class-0 neighbours at 0.5.
    bank = torch.stack([_unit(0.0), _unit(math.pi / 3), _unit(-math.pi / 3), _unit(math.pi)])
    labels = torch.tensor([1, 0, 0, 0])
    query = _unit(0.0)[None] * 3.0  # the scale must not matter (cosine similarity)
    scores = knn_scores(bank, labels, query, num_classes=2, k=3, temperature=0.1)
    torch.testing.assert_close(scores, torch.tensor([[2 * math.exp(5.0), math.exp(10.0)]]))
    assert scores.argmax().item() == 1  # the close neighbour wins at a low temperature
    hot = knn_scores(bank, labels, query, num_classes=2, k=3, temperature=100.0)
    assert hot.argmax().item() == 0  # at a high temperature the count wins


def test_chunking_and_k_larger_than_bank():
    g = torch.Generator().manual_seed(0)
    bank, query = torch.randn(50, 8, generator=g), torch.randn(30, 8, generator=g)
    labels = torch.randint(0, 7, (50, ), generator=g)
    a = knn_scores(bank, labels, query, 7, k=10, chunk_size=7)
    b = knn_scores(bank, labels, query, 7, k=10, chunk_size=1000)
    torch.testing.assert_close(a, b)
    res = knn_accuracy(bank, labels, query, labels[:30], 7, k=500)
    assert res['k'] == 50 and res['num_train'] == 50 and res['num_test'] == 30


def test_topk_accuracy_and_trivial_top5():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    assert topk_accuracy(scores, torch.tensor([1, 1, 2]), (1, 2)) == dict(
        top1=pytest.approx(200 / 3), top2=pytest.approx(100.0))
    assert topk_accuracy(scores, torch.tensor([1, 1, 2]))['top5'] is None  # 3 classes


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match='8 dims but test features have 4'):
        knn_scores(torch.randn(5, 8), torch.zeros(5), torch.randn(2, 4))
    with pytest.raises(ValueError, match='5 train features but 4 labels'):
        knn_scores(torch.randn(5, 8), torch.zeros(4), torch.randn(2, 8))


def test_linear_probe_is_deterministic_and_leaves_global_rng_alone():
    g = torch.Generator().manual_seed(1)
    centers = torch.randn(3, 16, generator=g) * 3
    ytr, yte = torch.arange(300) % 3, torch.arange(90) % 3
    xtr = centers[ytr] + torch.randn(300, 16, generator=g)
    xte = centers[yte] + torch.randn(90, 16, generator=g)
    state = torch.get_rng_state()
    a = linear_probe(xtr, ytr, xte, yte, lrs=(0.01, 0.1), epochs=10)
    assert torch.equal(torch.get_rng_state(), state)
    b = linear_probe(xtr, ytr, xte, yte, lrs=(0.01, 0.1), epochs=10)
    assert a == b
    assert a['lr'] in (0.01, 0.1) and set(a['val_top1']) == {'0.01', '0.1'}
    assert a['top1'] > 90 and a['top5'] is None
