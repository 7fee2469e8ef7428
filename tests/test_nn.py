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
