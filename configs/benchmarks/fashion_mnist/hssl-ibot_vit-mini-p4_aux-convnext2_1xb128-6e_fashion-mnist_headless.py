# The published model of hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist.py, as
# mmpretrain's inferencers read it: the teacher's base ViT without heads (a headless
# ImageClassifier, as mmpretrain's own backbone-only zoo entries), the normalisation of training and
# the test split's pipeline. The zoo file holds exactly these weights (backbone.*), so
# mmpretrain.apis.get_model, FeatureExtractor and mmhssl.apis.get_model load it strictly;
# extract_feat returns the final-normed class token, the feature the benchmark's kNN measures.
_base_ = ['../../_base_/datasets/fashion-mnist_multicrop_masks.py']
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmhssl'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='MaskedVisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        img_size=28,
        patch_size=4,
        final_norm=True,
        out_type='cls_token',
        with_mask_token=False),  # a pretraining-only parameter, not published
    neck=None,
    head=None)

# Training normalises with BatchMultiCropPreprocessor, which at test time is exactly this.
data_preprocessor = dict(
    _delete_=True,
    mean={{_base_.data_preprocessor.mean}},
    std={{_base_.data_preprocessor.std}},
    to_rgb=False)
train_dataloader = None
test_dataloader = {{_base_.eval_dataloaders.test}}
