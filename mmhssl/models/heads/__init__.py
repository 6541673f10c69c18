from .projector import HSSLProjector, ProjectionMLP, WeightNormLinear

__all__ = ['HSSLProjector', 'ProjectionMLP', 'WeightNormLinear']
