"""DINOLoss: iBOT's CLS maths without the patch term."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS


def test_dino_loss_is_ibot_cls_term_with_one_center():
    dino = MODELS.build(dict(type='DINOLoss', out_channels=16, teacher_temp=0.05))
    ibot = MODELS.build(dict(type='IBOTLoss', out_channels=16, teacher_temp=0.05))
    assert not hasattr(dino, 'patch_center') and not dino.with_patch
    g = torch.Generator().manual_seed(0)
    student = {'base': [torch.randn(3, 16, generator=g) for _ in range(4)]}
    teacher = [torch.randn(3, 16, generator=g) for _ in range(2)]
    out = dino(student, teacher)
    torch.testing.assert_close(out['loss_cls_base'], ibot(student, teacher)['loss_cls_base'])
    # Local views (2, 3) learn from both global views; global views from the other one only.
    t = [F.softmax(x / 0.05, -1) for x in teacher]
    terms = [
        -(t[q] * F.log_softmax(student['base'][v] / 0.1, -1)).sum(-1).mean() for q in range(2)
        for v in range(4) if q != v
    ]
    torch.testing.assert_close(out['loss_cls_base'], torch.stack(terms).mean())
    torch.testing.assert_close(dino.cls_center, 0.1 * torch.cat(teacher).mean(0, keepdim=True))


def test_dino_loss_rejects_patch_inputs():
    dino = MODELS.build(dict(type='DINOLoss', out_channels=8))
    x = [torch.randn(2, 8)] * 2
    with pytest.raises(ValueError, match='no patch term; use IBOTLoss'):
        dino({'base': x},
             x,
             student_patch=[torch.randn(2, 4, 8)] * 2,
             teacher_patch=[torch.randn(2, 4, 8)] * 2,
             masks=[torch.ones(2, 4)] * 2)


def test_checkpoint_keys_of_both_losses():
    """Checkpoints of earlier runs keep loading: the centers are top-level buffers."""
    dino = MODELS.build(dict(type='DINOLoss', out_channels=8))
    ibot = MODELS.build(dict(type='IBOTLoss', out_channels=8, patch_out_channels=4))
    assert list(dino.state_dict()) == ['cls_center']
    assert {
        k: tuple(v.shape)
        for k, v in ibot.state_dict().items()
    } == {
        'cls_center': (1, 8),
        'patch_center': (1, 1, 4)
    }


def test_ibot_loss_rejects_student_logits_of_every_patch():
    ibot = MODELS.build(dict(type='IBOTLoss', out_channels=8))
    x = [torch.randn(2, 8)] * 2
    masks = [torch.tensor([[True, False, False, True], [False] * 4])] * 2
    with pytest.raises(ValueError, match=r'shape \(2, 4, 8\) but the masks have 2 masked tokens'):
        ibot({'base': x},
             x,
             student_patch=[torch.randn(2, 4, 8)] * 2,
             teacher_patch=[torch.randn(2, 4, 8)] * 2,
             masks=masks)
