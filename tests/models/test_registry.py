import pytest
from torch import nn

from gaitedge.models import create_model, list_models, register_model
from gaitedge.models._registry import _MODELS

EXPECTED = {
    "UNet", "Segmentation", "GaitGL", "GaitGL-OUMVLP", "GaitGL-GREW", "GaitSet", "GaitPart", "GaitEdge", "GaitGL-E2E",
}


def test_all_names_registered():
    assert EXPECTED <= set(list_models())
    assert list_models("GaitGL*") == ["GaitGL", "GaitGL-E2E", "GaitGL-GREW", "GaitGL-OUMVLP"]


def test_create_model_passes_kwargs():
    m = create_model("GaitGL", num_classes=10)
    assert m.Head1.fc_bin.shape == (64, 128, 10)
    assert create_model("GaitGL-OUMVLP", num_classes=3).channels == (32, 64, 128, 256)


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match="unknown model name 'GaitXYZ'.*GaitGL"):
        create_model("GaitXYZ")


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match="already registered"):
        register_model("GaitGL")(lambda **kw: nn.Identity())
    assert _MODELS["GaitGL"].__name__ == "gaitgl"


def test_bad_constructor_argument_is_type_error():
    with pytest.raises(TypeError):
        create_model("GaitSet", not_an_option=1)
