"""One module per Darknet layer type; TABLE maps each section header to its spec.

The table is explicit: no registration by import side effect. [net]/[network] is not a
layer: its schema is :data:`cfgtool.layers.network.NET`.
"""

from __future__ import annotations

from .activation import Activation
from .avgpool import Avgpool
from .base import LayerSpec
from .batchnorm import Batchnorm
from .connected import Connected
from .contrastive import Contrastive
from .conv_lstm import ConvLstm
from .convolutional import Convolutional
from .cost import Cost
from .crnn import Crnn
from .crop import Crop
from .detection import Detection
from .dropout import Dropout
from .empty import Empty
from .gaussian_yolo import GaussianYolo
from .gru import Gru
from .history import History
from .implicit import Implicit
from .local import Local
from .local_avgpool import LocalAvgpool
from .lstm import Lstm
from .maxpool import Maxpool
from .normalization import Normalization
from .region import Region
from .reorg import Reorg
from .reorg_old import ReorgOld
from .rnn import Rnn
from .route import Route
from .sam import Sam
from .scale_channels import ScaleChannels
from .shortcut import Shortcut
from .softmax import Softmax
from .upsample import Upsample
from .yolo import Yolo

SPECS: tuple[type[LayerSpec], ...] = (
    Convolutional, Route, Shortcut, ScaleChannels, Sam, Maxpool, LocalAvgpool, Avgpool, Upsample,
    Yolo, GaussianYolo, Region, Detection, Connected, Softmax, Dropout, Batchnorm, Normalization,
    Crop, Cost, Reorg, ReorgOld, Empty, Implicit, Activation, Local, Contrastive,
    Rnn, Crnn, Gru, Lstm, ConvLstm, History,
)

TABLE: dict[str, LayerSpec] = {name: spec() for spec in SPECS for name in spec.sections}


def spec_for(section_name: str) -> LayerSpec | None:
    return TABLE.get(section_name)
