from .image_folder import UnlabeledImageFolder
from .transforms import *  # noqa: F401,F403

__all__ = ['UnlabeledImageFolder']
