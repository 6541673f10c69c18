# HSSL-MoCo v3 with a ResNet-50 base and a 3-block transformer auxiliary head: MoCo v3's ResNet-50
# recipe, 100 epochs, 8 GPUs x 512 images, LARS lr 9.6 (0.6 per 256), weight decay 1e-6,
# momentum 0.99 -> 1 (cosine).
_base_ = [
    '../_base_/models/hssl-mocov3_resnet50_aux-transformer3.py',
    '../_base_/datasets/two_views_mocov3.py',
    '../_base_/datasets/imagenet_eval.py',
    '../_base_/schedules/lars_coslr_100e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=512)
optim_wrapper = dict(
    type='SSLAmpOptimWrapper', dtype='bfloat16',
    loss_scale=dict(enabled=False))  # bf16 has float32's range: no scaling
custom_hooks = [dict(type='HSSLScheduleHook', momentum=(0.99, 1.0), freeze_last_layer_epochs=0)]
