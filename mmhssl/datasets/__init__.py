from .image_folder import UnlabeledImageFolder
from .seeded import SeededDataset, SeededSampler
from .transforms import *  # noqa: F401,F403
from .fashion_mnist import LocalFashionMNIST  # noqa: F401
