import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model_cfg
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def _build(aux=True, **kw):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(aux=aux, **kw))
    model.init_weights()
    return model


def _batch(B=3, G=2, L=2, size=32, local=16, grid=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(B, 3, size, size, generator=g) for _ in range(G)]
    views += [torch.randn(B, 3, local, local, generator=g) for _ in range(L)]
    masks = torch.rand(B, G, grid, grid, generator=g) > 0.6
    masks[0, 0] = False  # an unmasked image still counts in the mean
    samples = [DataSample().set_mask(masks[i]) for i in range(B)]
    return views, masks, samples


def _reference_loss(model,
                    teacher,
                    views,
                    masks,
                    teacher_temp,
                    patch_temp,
                    student_temp=0.1,
                    cls_center=None,
                    patch_center=None):
    """Straight from the reference formulas, image by image and view by view."""
    G = masks.shape[1]
    B = views[0].shape[0]

    def tokens(net, x, m=None):
        pre, post, (h, w) = net['backbone'].forward_tokens(x, m)
        return pre, post, h, w

    def aux_cls(net, pre, h, w):
        grid = pre[:, 1:].transpose(1, 2).reshape(pre.shape[0], -1, h, w)
        return net['head'](net['neck'](grid)['cls'], aux=True)

    student = dict(backbone=model.backbone, neck=model.neck, head=model.head)
    K = model.head.out_channels
    c = torch.zeros(1, K) if cls_center is None else cls_center
    cp = torch.zeros(1, 1, K) if patch_center is None else patch_center

    with torch.no_grad():
        t_cls, t_patch = [], []
        for q in range(G):
            pre, post, h, w = tokens(teacher, views[q])
            t_cls.append(F.softmax((aux_cls(teacher, pre, h, w) - c) / teacher_temp, -1))
            t_patch.append(F.softmax((teacher['head'](post[:, 1:]) - cp) / patch_temp, -1))
    s_base, s_aux, s_patch = [], [], []
    for v, x in enumerate(views):
        m = masks[:, v] if v < G else None
        pre, post, h, w = tokens(student, x, m)
        s_base.append(model.head(post[:, 0]) / student_temp)
        s_aux.append(aux_cls(student, pre, h, w) / student_temp)
        if v < G:
            s_patch.append(model.head(post[:, 1:]) / student_temp)

    def ce(p, logits):
        return -(p * F.log_softmax(logits, -1)).sum(-1)

    # Base CLS and aux CLS both learn from the teacher's *auxiliary* CLS, cross-view pairs only.
    cls_terms = {'base': [], 'aux': []}
    for q in range(G):
        for v in range(len(views)):
            if q == v:
                continue
            cls_terms['base'].append(ce(t_cls[q], s_base[v]).mean())
            cls_terms['aux'].append(ce(t_cls[q], s_aux[v]).mean())
    # MIM: student base patches learn from the teacher *base* patches of the same view, masked only.
    mim = []
    for v in range(G):
        per_image = []
        for b in range(B):
            m = masks[b, v].flatten().float()
            per_image.append((ce(t_patch[v][b], s_patch[v][b]) * m).sum() / m.sum().clamp(min=1))
        mim.append(torch.stack(per_image).mean())
    return dict(
        loss_cls_base=0.5 * torch.stack(cls_terms['base']).mean(),
        loss_cls_aux=0.5 * torch.stack(cls_terms['aux']).mean(),
        loss_mim=torch.stack(mim).mean())


def test_loss_matches_reference_formulas():
    model = _build()
    model.train()
    # Make the teacher differ from the student so that wrong wiring cannot cancel out.
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.loss_module.teacher_temp, model.loss_module.teacher_patch_temp = 0.05, 0.06
    model.loss_module.cls_center.normal_()
    model.loss_module.patch_center.normal_()
    centers = (model.loss_module.cls_center.clone(), model.loss_module.patch_center.clone())
    views, masks, samples = _batch()
    teacher = {k: v for k, v in model.teacher.items()}
    ref = _reference_loss(
        model, teacher, views, masks, 0.05, 0.06, cls_center=centers[0], patch_center=centers[1])
    out = model.loss(views, samples)
    assert set(out) == set(ref)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], rtol=1e-5, atol=1e-5)

    # Centers: EMA (0.9) of the batch mean of the teacher aux CLS / teacher base patch logits.
    with torch.no_grad():
        t_aux, t_patch = [], []
        for q in range(2):
            pre, post, (h, w) = teacher["backbone"].forward_tokens(views[q])
            grid = pre[:, 1:].transpose(1, 2).reshape(3, -1, h, w)
            t_aux.append(teacher['head'](teacher['neck'](grid)['cls'], aux=True))
            t_patch.append(teacher['head'](post[:, 1:]))
    exp_c = 0.9 * centers[0] + 0.1 * torch.cat(t_aux).mean(0, keepdim=True)
    exp_p = 0.9 * centers[1] + 0.1 * torch.cat(t_patch).mean(1).mean(0, keepdim=True)[None]
    torch.testing.assert_close(model.loss_module.cls_center, exp_c, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model.loss_module.patch_center, exp_p, rtol=1e-5, atol=1e-6)


def test_plain_ibot_targets_teacher_base_cls():
    model = _build(aux=False)
    views, masks, samples = _batch(L=0)
    out = model.loss(views, samples)
    assert set(out) == {'loss_cls_base', 'loss_mim'}
    with torch.no_grad():
        t = [
            F.softmax(
                model.teacher['head'](model.teacher['backbone'].forward_tokens(x)[1][:, 0]) / 0.07,
                -1) for x in views
        ]
    s = [
        F.log_softmax(model.head(model.backbone.forward_tokens(x, masks[:, i])[1][:, 0]) / 0.1, -1)
        for i, x in enumerate(views)
    ]
    ref = 0.5 * (-(t[0] * s[1]).sum(-1).mean() - (t[1] * s[0]).sum(-1).mean())
    torch.testing.assert_close(out['loss_cls_base'], ref, rtol=1e-5, atol=1e-5)


def test_loss_only_reads_the_teacher_and_update_teacher_is_the_ema():
    model = _build()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.1)
    old_teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    views, masks, samples = _batch()
    model.loss(views, samples)
    for k, v in model.teacher.state_dict().items():  # the EMA follows the optimizer step instead
        assert torch.equal(v, old_teacher[k]), k
    key = 'backbone.patch_embed.projection.weight'
    student = model.state_dict()[key].clone()
    model.update_teacher(0.9)
    torch.testing.assert_close(model.teacher.state_dict()[key],
                               0.9 * old_teacher[key] + 0.1 * student)
    model.update_teacher()  # without a schedule: base_momentum
    m = model.momentum
    torch.testing.assert_close(model.teacher.state_dict()[key],
                               m * (0.9 * old_teacher[key] + 0.1 * student) + (1 - m) * student)
    assert all(not p.requires_grad for p in model.teacher.parameters())


def test_teacher_starts_equal_to_student_and_gets_no_gradient():
    model = _build()
    for name, module in model.teacher.items():
        for (k, t), s in zip(module.state_dict().items(),
                             getattr(model, name).state_dict().values()):
            assert torch.equal(t, s), k
    views, masks, samples = _batch()
    sum(model.loss(views, samples).values()).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.neck.blocks[0].dwconv.weight.grad is not None  # aux head trained by aux CLS
    assert model.backbone.mask_token.grad is not None  # masked tokens reach the MIM loss


def test_mismatched_aux_head_fails_at_build():
    cfg = tiny_model_cfg()
    cfg['neck']['in_channels'] = 48
    with pytest.raises(ValueError, match='AuxConvNeXtHead.*48.*MaskedVisionTransformer.*32'):
        MODELS.build(cfg)


def test_image_size_not_divisible_by_patch_fails_at_build():
    cfg = tiny_model_cfg()
    cfg['backbone']['img_size'] = 30
    with pytest.raises(ValueError, match='not divisible by patch_size 8'):
        MODELS.build(cfg)


def test_extract_feat_is_the_plain_base_model():
    model = _build()
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    feats = model.extract_feat(x)
    _, post, _ = model.backbone.forward_tokens(x)
    torch.testing.assert_close(feats[0], post[:, 0])
