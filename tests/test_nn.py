from __future__ import annotations

import pytest
import torch

from scautogenome.nn import MLP, DenseNetFC, FCUnit, ResNetFC, build_network


def test_fc_unit_layers():
    unit = FCUnit(10, 4, dropout=0.1)
    kinds = [type(m).__name__ for m in unit]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]


@pytest.mark.parametrize(
    "arch",
    [
        {"kind": "mlp", "units": [32, 16]},
        {"kind": "resnet", "units": 24, "n_blocks": 3},
        {"kind": "densenet", "blocks": [2, 3], "growth_rate": 8},
    ],
)
def test_output_shapes(arch):
    net = build_network({**arch, "n_inputs": 50, "n_outputs": 7, "input_keep": 0.8, "dropout": 0.1})
    out = net(torch.randn(5, 50))
    assert out.shape == (5, 7)


def test_resnet_adds_input_and_output():
    net = ResNetFC(6, 2, units=4, n_blocks=2).eval()
    for unit in net.blocks:  # a unit that outputs 0 leaves h unchanged: h + 0
        torch.nn.init.zeros_(unit[0].weight)
        torch.nn.init.zeros_(unit[0].bias)
        unit[1].bias.data.fill_(-10.0)  # BN shift so that ReLU outputs 0
    x = torch.randn(3, 6)
    h = net.stem(x)
    torch.testing.assert_close(net.features(x), h)


def test_densenet_concatenates_previous_outputs():
    net = DenseNetFC(10, 3, blocks=[3], growth_rate=4)
    block = net.body[0]
    # the i-th unit sees the stem output (2*growth) plus i earlier outputs of `growth` each
    assert [u.n_in for u in block.units] == [8, 12, 16]
    assert block.n_out == 8 + 3 * 4


def test_input_keep_is_first_layer_dropout():
    net = MLP(20, 2, units=[8], input_keep=0.6)
    assert isinstance(net.input_drop, torch.nn.Dropout)
    assert net.input_drop.p == pytest.approx(0.4)
    assert isinstance(MLP(20, 2, units=[8], input_keep=1.0).input_drop, torch.nn.Identity)


def test_build_network_rejects_unknown_keys():
    with pytest.raises(ValueError, match="Unknown key"):
        build_network({"kind": "mlp", "n_inputs": 3, "n_outputs": 2, "units": [4], "width": 3})
    with pytest.raises(ValueError, match="kind"):
        build_network({"kind": "cnn", "n_inputs": 3, "n_outputs": 2})


def test_check_architecture_names_the_key_and_the_valid_choices():
    """Malformed architecture dicts are refused with the key and what it takes, by
    check_architecture and by the builders (not a KeyError, TypeError or IndexError from
    deep inside), and every family's valid dicts pass, numpy numbers included."""
    import numpy as np

    from scautogenome.nn import build_vae, check_architecture

    sizes = {"n_inputs": 10, "n_outputs": 3}
    good = [
        {"kind": "mlp", "units": [np.int64(8), 4], "dropout": np.float32(0.1), **sizes},
        {"kind": "resnet", "units": 8, "n_blocks": 0, "act": "gelu", **sizes},
        {"kind": "densenet", "blocks": [2, 1], "growth_rate": 4, "compression": 1, **sizes},
        {"kind": "rrfcn", "widths": [8, 4, 4], "skips": [[], [], [0]], "input_keep": 0.8, **sizes},
        {"kind": "resvae", "n_inputs": 10, "n_latent": 2, "widths": [8, 4], "likelihood": "nb"},
    ]
    for arch in good:
        check_architecture(arch)
        (build_vae if arch["kind"] == "resvae" else build_network)(arch)
    bad = [
        ({"kind": "cnn", **sizes}, r"kind='cnn' must be one of \['densenet', 'mlp', 'resnet'"),
        ({"kind": "resnet", **sizes}, r"kind='resnet' needs \['units', 'n_blocks'\]; e\.g\."),
        ({"kind": "mlp", **sizes}, r"kind='mlp' needs \['units'\]"),
        ({"kind": "mlp", "units": [8, 0], **sizes}, r"units=\[8, 0\] must be a list of pos"),
        ({"kind": "mlp", "units": 8, **sizes}, r"units=8 must be a list of positive"),
        ({"kind": "resnet", "units": 8.5, "n_blocks": 2, **sizes}, "units=8.5 must be a pos"),
        ({"kind": "densenet", "blocks": [], "growth_rate": 4, **sizes}, r"blocks=\[\] must"),
        ({"kind": "mlp", "units": [4], "act": "tanh", **sizes}, r"act='tanh' must be one of"),
        ({"kind": "mlp", "units": [4], "dropout": 1.0, **sizes}, r"dropout=1\.0 must be"),
        ({"kind": "mlp", "units": [4], "n_inputs": 0, "n_outputs": 3}, "n_inputs=0 must be"),
        ({"kind": "mlp", "units": [4]}, r"needs \['n_inputs', 'n_outputs'\]"),
        ({"kind": "rrfcn", "widths": [8, 8], "skips": [[], [5]], **sizes}, r"skips\[1\]=\[5\]"),
        ({"kind": "rrfcn", "widths": [8, 8, 8], "skips": [[], [], [3]], **sizes}, r"0\.\.0"),
        ({"kind": "rrfcn", "widths": [8], "skips": [[]], "units": 3, **sizes}, "Unknown key"),
        ({"kind": "rrfcn", "widths": [8, 8], "skips": [[]], **sizes}, "skips has 1 entries"),
        ({"kind": "rrfcn", "widths": [8], "skips": [0], **sizes}, "skips=.0. must be a list of"),
    ]
    for arch, match in bad:
        with pytest.raises(ValueError, match=match):
            check_architecture(arch)
        if arch["kind"] != "cnn":
            with pytest.raises(ValueError, match=match):
                build_network(arch)
    with pytest.raises(ValueError, match=r"kind='mlp' must be one of \['resvae', 'vae'\]"):
        build_vae({"kind": "mlp", "units": [4], **sizes})
    with pytest.raises(ValueError, match=r"likelihood='poisson' must be one of"):
        build_vae(
            {"kind": "vae", "n_inputs": 5, "n_latent": 2, "widths": [4], "likelihood": "poisson"}
        )
    with pytest.raises(TypeError, match="architecture must be a dict"):
        check_architecture("mlp")
    # as given to a model's fit: the sizes are filled in, a VAE's widths may be a shorthand
    check_architecture({"kind": "mlp", "units": [4]}, stage="fit")
    check_architecture({"kind": "vae", "n_layers": 2, "first_width": 8, "decay": 0.5}, stage="fit")
    with pytest.raises(ValueError, match=r"'widths' or all of .*missing: \['decay'\]"):
        check_architecture({"kind": "vae", "n_layers": 2, "first_width": 8}, stage="fit")
    with pytest.raises(ValueError, match="not both"):
        check_architecture({"kind": "vae", "widths": [8], "n_layers": 2}, stage="fit")
