"""The networks of the book, one file each: `MLP` (Snake, swarms), `SqrtCNN` (the SQRT report's CNN),
`SmallConvNeXt` and `CharGPT` (the orthogonal-bases chapter). Each takes a ``make_activation``
(or an activation name) built by `lib.activations.factory`."""
from lib.models.char_gpt import CharGPT
from lib.models.convnext import SmallConvNeXt
from lib.models.mlp import INITS, MLP
from lib.models.sqrt_cnn import SqrtCNN, parameter_counts

__all__ = ["CharGPT", "INITS", "MLP", "SmallConvNeXt", "SqrtCNN", "parameter_counts"]
