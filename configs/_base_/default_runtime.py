default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmhssl'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Each checkpoint is written under a temporary name and renamed, and old ones go only after the
    # new one is complete: a crash or a full disk never leaves the work dir without a checkpoint.
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3,
                    backend_args=dict(backend='atomic_local')),
    # The log history as plain arrays, which the safe checkpoint loader accepts on resume.
    plain_history=dict(type='PlainHistoryHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Random generator states travel with each checkpoint so that a resumed run continues exactly.
    rng_state=dict(type='RNGStateHook'),
    # resume/load_from with a checkpoint of another model is an error, not a warning.
    checkpoint_check=dict(type='CheckpointCheckHook'),
)
# The teacher's schedules as DINO and iBOT set them for ViTs: EMA momentum 0.996 -> 1 (cosine over
# the run), teacher temperature 0.04 -> 0.07 (linear over 50 epochs, then constant; the patch term
# of iBOT follows the same), prototype layer frozen for the first 3 epochs. The hook also moves the
# teacher, so every pretraining config has one; recipes with other values replace the list.
custom_hooks = [
    dict(type='HSSLScheduleHook', momentum=(0.996, 1.0), teacher_temp=(0.04, 0.07),
         warmup_epochs=50, freeze_last_layer_epochs=3),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(
    window_size=10, custom_cfg=[dict(data_src='', method='mean', window_size='global')])
log_level = 'INFO'
load_from = None
resume = False
# Different augmentations (and masks) on each rank.
randomness = dict(seed=0, diff_rank_seed=True)
