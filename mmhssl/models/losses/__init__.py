from .ibot_loss import IBOTLoss

__all__ = ['IBOTLoss']
