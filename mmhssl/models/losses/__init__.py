from .dino_loss import DINOLoss
from .ibot_loss import IBOTLoss
from .mocov3_loss import MoCoV3Loss

__all__ = ['DINOLoss', 'IBOTLoss', 'MoCoV3Loss']
