"""Every registered model passes the shared helper (the registry sweep)."""

import pathlib
import subprocess
import sys

import pytest

import keras_segattn as ksa
from keras_segattn.models.bahdanau_nmt import TINY as TINY_NMT
from keras_segattn.models.show_attend_tell import TINY as TINY_SAT
from tests.helpers import check_model

TINY = ksa.list_models("*_tiny")


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_passes_shared_helper(name, tmp_path):
    check_model(name, tmp_path=tmp_path)


PAPER_SIZE_OVERRIDES = {
    # FCNs take any size: a small image keeps the 134M-parameter check fast.
    "fcn8s": {"input_shape": (64, 64, 3)},
    "fcn16s": {"input_shape": (64, 64, 3)},
    "fcn32s": {"input_shape": (64, 64, 3)},
    "deconvnet": {},
    # RNNsearch widths (620/1000/1000/1000/500) with the embedded corpus' vocabulary and length:
    # the paper's 30k vocabularies and 50 unrolled steps would only make the check slow.
    "bahdanau_nmt": {
        k: TINY_NMT[k] for k in ("source_vocab_size", "target_vocab_size", "max_length")
    },
    # Show-Attend-Tell: the paper's VGG16 conv5 encoder and LSTM sizes at the smallest board the embedded
    # captions allow (32 x 32: a 2 x 2 grid), with their vocabulary and caption length.
    "show_attend_tell": {
        "input_shape": (32, 32, 3),
        **{k: TINY_SAT[k] for k in ("vocab_size", "max_length")},
    },
    # Handwriting synthesis: the paper's 3 x 400 LSTMs, 20 mixtures and 10 window Gaussians on the
    # embedded words' sizes (the window's text and the point count only change the loop length).
    "handwriting_synthesis": {"max_text_length": 4, "max_points": 96},
    # DRAW: the paper's MNIST widths (256-unit LSTMs, z of 100, 2x2 read, 5x5 write) over 4 of its 64 steps
    # (the steps only unroll the same cells again).
    "draw": {"steps": 4},
    "draw_no_attention": {"steps": 4},
    "draw_classifier": {},
    # DCGAN: the paper's 64x64 generator (1024-512-256-128) and discriminator.
    "dcgan": {},
    # Spatial transformer family: paper size is small (42x42 grey digits).
    "digits_cnn": {},
    "st_cnn": {},
    # Inception: paper widths at the smallest valid input, one block of each type (the
    # repeats are identical blocks; the full depth's layout, parameter count and, for
    # Inception-ResNet-v2, equality with Keras Applications are tests/test_backbones.py's).
    "inception_v4": {"input_shape": (75, 75, 3), "blocks": (1, 1, 1), "num_classes": 10},
    "inception_resnet_v2": {"input_shape": (75, 75, 3), "blocks": (1, 1, 1), "num_classes": 10},
    # Classic segmenters (any input size): a small image keeps the paper-width checks fast.
    "patch_classifier": {"input_shape": (16, 16, 3)},
    "multiscale_cnn": {"input_shape": (16, 16, 3)},
    "recurrent_cnn": {"input_shape": (16, 16, 3)},
    # MNC: VGG16 trunk, the paper's anchors, 28x28 masks and 4096-wide fc6/fc7 pathways, on a 64x64 image with
    # 16 proposals (the paper's 300 only repeat the same per-RoI heads).
    "mnc": {"input_shape": (64, 64, 3), "num_proposals": 16, "max_detections": 8},
    # SDS: VGG16 trunk and 4096-wide pathways (316M parameters) with 4 sliding-window proposals.
    "sds": {"input_shape": (64, 64, 3), "proposal_sizes": (32.0,), "proposal_aspect_ratios": (1.0,),
            "proposal_stride": 32},
    # Hypercolumns: VGG16 hypercolumn taps, a 5x5 classifier grid and 50x50 masks (the defaults), on a 64x64
    # image with one whole-image proposal.
    "hypercolumns": {"input_shape": (64, 64, 3), "proposal_stride": 64},
}


def test_sweep_covers_every_model():
    paper = [n for n in ksa.list_models() if n not in TINY]
    missing = sorted(set(paper) - set(PAPER_SIZE_OVERRIDES))
    assert not missing, f"add these paper-size models to PAPER_SIZE_OVERRIDES: {missing}"


# Run by a fresh Python for each model: TensorFlow keeps part of every traced model's memory
# after clear_session, and one worker running all of these after each other crashed CI (out of
# memory at MNC, measured); DeconvNet at 224x224, MNC and SDS each peak at ~10 GB alone.
_CHECK_ONE = (
    "import pathlib, sys\n"
    "import tests.conftest  # noqa: F401 (the suite's environment)\n"
    "import keras\n"
    "from tests.helpers import check_model\n"
    "from tests.test_models_sweep import PAPER_SIZE_OVERRIDES\n"
    "keras.utils.set_random_seed(1234)\n"
    "name = sys.argv[1]\n"
    "check_model(name, tmp_path=pathlib.Path(sys.argv[2]), overrides=PAPER_SIZE_OVERRIDES[name], batch_size=1)\n"
)


# One xdist group: two of these never run side by side.
@pytest.mark.paper_size
@pytest.mark.xdist_group("heavy")
@pytest.mark.parametrize("name", sorted(PAPER_SIZE_OVERRIDES))
def test_paper_size_model_passes_shared_helper(name, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _CHECK_ONE, name, str(tmp_path)],
        cwd=pathlib.Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"{name}: the paper-size check failed (exit code {result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
