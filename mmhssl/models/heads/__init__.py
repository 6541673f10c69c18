from .mocov3_projector import MoCoV3Projector
from .projector import BranchProjector, HSSLProjector, ProjectionMLP, WeightNormLinear

__all__ = [
    'BranchProjector', 'HSSLProjector', 'MoCoV3Projector', 'ProjectionMLP', 'WeightNormLinear'
]
