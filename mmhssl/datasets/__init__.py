from .fashion_mnist import LocalFashionMNIST
from .image_folder import UnlabeledImageFolder
from .seeded import SeededDataset, SeededSampler
from .transforms import *  # noqa: F401,F403

__all__ = ['LocalFashionMNIST', 'SeededDataset', 'SeededSampler', 'UnlabeledImageFolder']
