"""Keras 3's image preprocessing layers: resizing and cropping, and the random augmentations of images
(``base.py`` says how they run)."""
from .affine import RandomRotation, RandomTranslation, RandomZoom
from .blur_and_contrast import AutoContrast, RandomGaussianBlur
from .color import RandomBrightness, RandomContrast
from .color_augmentations import (RandomColorDegeneration, RandomGrayscale, RandomInvert, RandomPosterization,
                                  RandomSharpness, Solarization)
from .equalization import Equalization
from .hsv import RandomColorJitter, RandomHue, RandomSaturation
from .random_crop import RandomCrop
from .random_flip import RandomFlip
from .resizing import CenterCrop, Resizing
from .shear_and_erasing import RandomErasing, RandomShear

__all__ = ["Resizing", "CenterCrop", "RandomCrop", "RandomFlip", "RandomZoom", "RandomTranslation", "RandomRotation",
           "RandomContrast", "RandomBrightness", "RandomSaturation", "RandomHue", "RandomColorJitter",
           "RandomGrayscale", "RandomInvert", "Solarization", "RandomPosterization", "RandomColorDegeneration",
           "RandomSharpness", "RandomShear", "RandomErasing", "RandomGaussianBlur", "AutoContrast",
           "Equalization"]
