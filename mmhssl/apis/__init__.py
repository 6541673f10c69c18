from .export import export_backbone, extract_backbone

__all__ = ['export_backbone', 'extract_backbone']
