"""RandomCrop (Keras 3: ``image_preprocessing/random_crop.py``): in training, a (height, width) crop at an offset
drawn once per batch (Keras's: one offset for all the batch's images); from images no larger than that along a
side, what Keras cuts there (from the start of the centred box of the crop's aspect ratio) resized to it.

In inference Keras 3 passes the images through uncropped, so its output has another shape than in training.
gpunn does the same on the layer's own (``layer(images, training=False)``); in a model, whose layers take one
shape, that is refused by name where the images are of another size than the crop (use CenterCrop for
inference)."""
from __future__ import annotations

from ... import random as gpunn_random
from ...autodiff import image_functions as image
from .. import user_layer
from .resizing import _Sized, aspect_crop_box, check_size, crop


class RandomCrop(_Sized):
    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(data_format=data_format, name=name, **kwargs)
        self.height, self.width = check_size("RandomCrop", height, width)
        # Keras's: a seed drawn now when none is given, and written in the config
        self.make_generator(gpunn_random.new_seed() if seed is None else seed)

    def keeps_integers(self, training: bool) -> bool:
        return not training

    def transform_images(self, images, training: bool):
        image_height, image_width = self.image_size(images.shape)
        if not training:
            if (image_height, image_width) == (self.height, self.width):
                return images
            called = user_layer.running_call()
            if called is not None and called[0] != "alone":
                if self.in_trial():  # learning the output shape: training's
                    return self._training_crop(images, image_height, image_width, random=False)
                raise ValueError(
                    f"layer {self.name!r} (RandomCrop): in inference Keras 3's RandomCrop passes images through "
                    f"uncropped ({image_height}x{image_width}), not of the {self.height}x{self.width} it gives in "
                    "training, and a model's layers take one shape; crop with CenterCrop for inference (e.g. a "
                    "model of its own for predict)")
            return images
        return self._training_crop(images, image_height, image_width, random=True)

    def _training_crop(self, images, image_height: int, image_width: int, random: bool):
        if image_height > self.height and image_width > self.width:
            top = left = 0
            if random:
                # Keras's draws: uniform in [0, room + 1) cast to int32, the height's first
                top = int(self.draw((), 0, float(image_height - self.height + 1)).numpy())
                left = int(self.draw((), 0, float(image_width - self.width + 1)).numpy())
            return crop(self, images, top, left, self.height, self.width)
        # No room along a side: Keras starts the crop where the centred box of the target's aspect ratio starts, cuts
        # (height, width) from there (less where the image ends) and resizes that to (height, width)
        top, left, _, _ = aspect_crop_box(image_height, image_width, self.height, self.width)
        cut = crop(self, images, top, left, self.height, self.width)
        if self.image_size(cut.shape) == (self.height, self.width):
            return cut
        return image.resize(cut, size=(self.height, self.width), data_format=self.data_format)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "seed": self.seed}
