"""``mmhssl.downstream`` stays out of ``import mmhssl``; the mmdet / mmseg configs that need it
bring it in through their ``custom_imports``. Each check runs in a fresh interpreter, where
nothing else can have imported the package already."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

MMDET_CONFIG = osp.join(ROOT, 'projects/mmdet/configs',
                        'mask-rcnn_hssl-vit-base-p16_simple-fpn_1x_coco.py')
MMSEG_CONFIG = osp.join(ROOT, 'projects/mmseg/configs',
                        'upernet_hssl-vit-base-p16_mln_8xb2-160k_ade20k-512x512.py')


def run_fresh(code: str) -> None:
    """Run ``code`` in a new interpreter that imports this checkout's mmhssl; fail on its error."""
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_mmhssl_leaves_downstream_out():
    run_fresh("""
        import sys
        import mmhssl
        from mmpretrain.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
        loaded = sorted(m for m in sys.modules if m.startswith('mmhssl.downstream'))
        assert not loaded, loaded
        assert 'SimpleFeaturePyramid' not in MODELS.module_dict
        assert 'BackboneLayerDecayOptimWrapperConstructor' not in \\
            OPTIM_WRAPPER_CONSTRUCTORS.module_dict
        assert 'HSSLAlgorithm' in MODELS.module_dict  # the rest of mmhssl is registered
    """)


# The shipped configs, and what each must build from its own library's registries once loaded.
CONFIG_CHECKS = {
    'mmdet': (MMDET_CONFIG, """
        from mmhssl.downstream import SimpleFeaturePyramid
        with DefaultScope.overwrite_default_scope('mmdet'):
            neck = MODELS.build(cfg.model.neck)
        assert type(neck) is SimpleFeaturePyramid, type(neck)
        assert len(neck(torch.randn(1, 768, 4, 4))) == 5
    """),
    'mmseg': (MMSEG_CONFIG, ''),
}


@pytest.mark.downstream
@pytest.mark.parametrize('scope', sorted(CONFIG_CHECKS))
def test_config_custom_imports_build_downstream_modules(scope):
    pytest.importorskip(scope)
    config, extra = CONFIG_CHECKS[scope]
    run_fresh(f"""
        import sys
        import torch
        from mmengine.config import Config
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import DefaultScope
        from mmpretrain.models import VisionTransformer
        from {scope}.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
        assert 'mmhssl.downstream' not in sys.modules
        cfg = Config.fromfile({config!r})  # runs the config's custom_imports
        assert 'mmhssl.downstream' in sys.modules
        from mmhssl.downstream import BackboneLayerDecayOptimWrapperConstructor

        class Model(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = VisionTransformer(
                    arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                    img_size=32, patch_size=16)
                self.head = torch.nn.Linear(32, 2)

        assert OPTIM_WRAPPER_CONSTRUCTORS.get(cfg.optim_wrapper.constructor) is \
            BackboneLayerDecayOptimWrapperConstructor
        with DefaultScope.overwrite_default_scope({scope!r}):
            wrapper = build_optim_wrapper(Model(), cfg.optim_wrapper)
        rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
        scales = {{g['param_name']: g['lr_scale'] for g in wrapper.optimizer.param_groups}}
        # 2 blocks: depths 0 (embeddings) to 3 (head); block 0 is at depth 1.
        assert abs(scales['backbone.layers.0.ln1.weight'] - rate**2) < 1e-9, scales
        assert scales['head.weight'] == 1.0
    """ + extra)
