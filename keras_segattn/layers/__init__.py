"""Public Keras layers of keras_segattn (one per module)."""

from keras_segattn.layers.affine_grid_generator import AffineGridGenerator
from keras_segattn.layers.attention_gru_decoder import AttentionGRUDecoder
from keras_segattn.layers.attention_lstm_decoder import AttentionLSTMDecoder
from keras_segattn.layers.bahdanau_attention import BahdanauAttention
from keras_segattn.layers.bilinear_sampler import BilinearSampler
from keras_segattn.layers.bilinear_upsampling import BilinearUpsampling2DTranspose
from keras_segattn.layers.bilinear_upsampling_fixed import BilinearUpsampling2D
from keras_segattn.layers.constant_planes import ConstantPlanes
from keras_segattn.layers.crop_to_reference import CropToReference
from keras_segattn.layers.dilated_max_pooling import DilatedMaxPooling2D
from keras_segattn.layers.gaussian_filterbank import GaussianFilterbank
from keras_segattn.layers.gaussian_read import GaussianRead
from keras_segattn.layers.gaussian_write import GaussianWrite
from keras_segattn.layers.graves_attention_window import GravesAttentionWindow
from keras_segattn.layers.image_pyramid import ImagePyramid
from keras_segattn.layers.luong_attention import LuongAttention
from keras_segattn.layers.matmul_conv2d import MatmulConv2D
from keras_segattn.layers.matmul_conv2d_transpose import MatmulConv2DTranspose
from keras_segattn.layers.max_pooling_with_argmax import MaxPoolingWithArgmax2D
from keras_segattn.layers.max_unpooling import MaxUnpooling2D
from keras_segattn.layers.maxout import Maxout
from keras_segattn.layers.mixture_density_output import MixtureDensityOutput
from keras_segattn.layers.pad_to_multiple import PadToMultiple
from keras_segattn.layers.projective_grid_generator import ProjectiveGridGenerator
from keras_segattn.layers.roi_warp import RoIWarp
from keras_segattn.layers.scaled_residual import ScaledResidual
from keras_segattn.layers.spatial_transformer import SpatialTransformer
from keras_segattn.layers.tps_grid_generator import ThinPlateSplineGridGenerator

__all__ = [
    "AffineGridGenerator",
    "AttentionGRUDecoder",
    "AttentionLSTMDecoder",
    "BahdanauAttention",
    "BilinearSampler",
    "BilinearUpsampling2D",
    "BilinearUpsampling2DTranspose",
    "ConstantPlanes",
    "CropToReference",
    "DilatedMaxPooling2D",
    "GaussianFilterbank",
    "GaussianRead",
    "GaussianWrite",
    "GravesAttentionWindow",
    "ImagePyramid",
    "LuongAttention",
    "MatmulConv2D",
    "MatmulConv2DTranspose",
    "MaxPoolingWithArgmax2D",
    "MaxUnpooling2D",
    "Maxout",
    "MixtureDensityOutput",
    "PadToMultiple",
    "ProjectiveGridGenerator",
    "RoIWarp",
    "ScaledResidual",
    "SpatialTransformer",
    "ThinPlateSplineGridGenerator",
]
