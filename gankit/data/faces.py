"""`faces`: the face crops of scikit-image's LFW subset (Huang et al. 2012), for face generation offline.

`skimage.data.lfw_subset()` holds 200 grey 25×25 crops: the first 100 are faces, the other 100 are
background patches ("non-faces"), so only the first 100 are used. They are resized to 32×32 (a power
of two, as the growing nets need) and each is also stored mirrored left-right: horizontal flips are
the augmentation StyleGAN uses on faces, and they double this small set to 200 images.
"""

import numpy as np
import torch

from .base import Dataset, image_spec
from .images import resize_uint8

FACES = 100          # lfw_subset()[:100] are faces, the rest background patches
RESOLUTION = 32


def faces(resolution: int = 0) -> Dataset:
    from skimage.data import lfw_subset

    grey = (lfw_subset()[:FACES] * 255.0).round().clip(0, 255).astype(np.uint8)      # [100, 25, 25]
    images = resize_uint8(torch.from_numpy(grey).unsqueeze(1), resolution or RESOLUTION)
    images = torch.cat([images, images.flip(-1)])                                      # + mirrored copies
    return Dataset(image_spec("faces", images, None), images)
