# AdamW, lr warm-up then cosine, weight decay cosine 0.04 -> 0.4, DINO-style per-tensor clipping.
max_epochs = 100
warmup_epochs = 10
base_lr = 7.5e-4  # per 256 images (auto_scale_lr rescales it)

optim_wrapper = dict(
    type='SSLOptimWrapper',
    # Optimizes the student only; the EMA teacher follows by moving average.
    constructor='StudentOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.04),
    clip_grad_per_param=0.3,
    # No weight decay on biases and norm weights (all 1-D tensors), as DINO/iBOT.
    paramwise_cfg=dict(flat_decay_mult=0.0))

# The decays have no `end`: the runner ends them with train_cfg.max_epochs (and T_max defaults to
# end - begin), so a config with another length changes train_cfg only.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-9, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=2e-6, by_epoch=True, begin=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, by_epoch=True, begin=0,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256)
