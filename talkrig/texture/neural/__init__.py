"""StyleGAN2-based neural refiner of classical renders (teeth, mouth interior, skin detail).

* :class:`RefinerConfig` - sizes and hyper-parameters (presets tiny/128/256/512)
* :class:`Generator`, :class:`Discriminator` - the networks (:mod:`.networks`, :mod:`.layers`)
* :func:`train_refiner`, :class:`RefinerTrainer` - training (:mod:`.train`), ``talkrig train-renderer``
* :class:`Refiner`, :func:`refine_stream`, :func:`load_refiner` - inference (:mod:`.refiner`)
"""

from talkrig.texture.neural.config import FULL_COND, RefinerConfig
from talkrig.texture.neural.refiner import Refiner, conditions_from_maps, load_refiner, refine_stream

__all__ = ["FULL_COND", "RefinerConfig", "Refiner", "conditions_from_maps", "load_refiner",
           "refine_stream"]
