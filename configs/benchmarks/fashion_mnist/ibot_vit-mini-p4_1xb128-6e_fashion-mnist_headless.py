# The published model of ibot_vit-mini-p4_1xb128-6e_fashion-mnist.py for mmpretrain's inferencers:
# its base ViT is that of the HSSL-iBOT run (the baseline differs only in the heads it trains with).
_base_ = ['./hssl-ibot_vit-mini-p4_aux-convnext2_1xb128-6e_fashion-mnist_headless.py']
