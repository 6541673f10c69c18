from .ibot_loss import DINOLoss, IBOTLoss
from .mocov3_loss import MoCoV3Loss

__all__ = ['DINOLoss', 'IBOTLoss', 'MoCoV3Loss']
