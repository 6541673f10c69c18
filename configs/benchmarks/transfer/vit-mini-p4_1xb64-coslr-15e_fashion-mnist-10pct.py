# The 1 % recipe with 10 % of the train labels (the first 600 images of each class) and 15 epochs
# (1,410 iterations).
_base_ = ['./vit-mini-p4_1xb64-coslr-40e_fashion-mnist-1pct.py']

num_per_class = 600
max_epochs = 15
train_dataloader = dict(dataset=dict(num_per_class=num_per_class))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=max_epochs // 10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=max_epochs // 10,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
default_hooks = dict(checkpoint=dict(interval=5))
