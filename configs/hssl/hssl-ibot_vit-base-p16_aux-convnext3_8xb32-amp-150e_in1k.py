# HSSL-iBOT ViT-B/16 for 150 epochs, the longer of the two schedules the HSSL authors released;
# otherwise the 100-epoch recipe.
_base_ = [
    '../_base_/models/hssl-ibot_vit-base-p16_aux-convnext3.py',
    '../_base_/datasets/multicrop_masks.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/adamw_coslr_coswd_150e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    type='SSLAmpOptimWrapper', dtype='bfloat16',
    loss_scale=dict(enabled=False))  # bf16 has float32's range: no scaling
