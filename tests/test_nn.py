from __future__ import annotations

import numpy as np
import pytest
import torch

from scautogenome.nn import (
    MLP,
    DenseNetFC,
    FCUnit,
    ResNetFC,
    build_network,
    build_vae,
    count_parameters,
)


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


def test_dropout_draws_its_cpu_mask_with_rand_as_torch_draws_its_distribution():
    """sag's Dropout (every dropout of the networks, the input's too): on CPU the mask comes
    from torch.rand (torch's own kernel draws it with bernoulli_, about twice as slow), of the
    same law: each value kept with 1 - p, scaled by 1 / (1 - p), the gradient through the same
    mask; in eval mode the input as it is; the mask of a bfloat16 input drawn in float32."""
    from scautogenome.nn._units import Dropout

    nets = [
        MLP(20, 2, units=[8], input_keep=0.6, dropout=0.2),
        build_network(
            {
                "kind": "resnet",
                "units": 8,
                "n_blocks": 2,
                "n_inputs": 20,
                "n_outputs": 2,
                "input_keep": 0.8,
                "dropout": 0.1,
            }
        ),
    ]
    for net in nets:
        drops = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
        assert drops
        assert all(isinstance(m, Dropout) for m in drops)
    drop = Dropout(0.25)
    torch.manual_seed(0)
    x = torch.ones(400, 500, requires_grad=True)
    y = drop(x)
    kept = y.detach() > 0
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    torch.testing.assert_close(y.detach()[kept], torch.full((int(kept.sum()),), 1 / 0.75))
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # the same mask and scale
    torch.manual_seed(0)
    first = torch.rand(400, 500) < 0.75
    torch.testing.assert_close(kept, first)  # torch.rand's draws, as said
    drop.eval()
    assert drop(x) is x
    half = Dropout(0.5).train()(torch.ones(1000, 1000, dtype=torch.bfloat16))
    assert half.dtype == torch.bfloat16
    assert abs((half > 0).float().mean().item() - 0.5) < 0.005


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


READS_ARCHS = [
    {"kind": "mlp", "units": [16, 8]},
    {"kind": "mlp", "units": []},
    {"kind": "resnet", "units": 12, "n_blocks": 2},
    {"kind": "densenet", "blocks": [2], "growth_rate": 4},
    {"kind": "rrfcn", "widths": [8, 8, 4], "skips": [[], [], [0]]},
]


@pytest.mark.parametrize("arch", READS_ARCHS)
def test_a_network_given_reads_is_the_full_network_without_the_unread_columns(arch):
    """A network reading the genes at ``reads`` computes what the network reading all genes
    computes where the others are 0 (as the input transform makes genes constant in
    training), with a first layer only ``len(reads)`` wide; what the unread genes hold does
    not matter."""
    from scautogenome.nn import READS_KEY

    arch = {**arch, "n_inputs": 30, "n_outputs": 3}
    reads = np.array([0, 2, 3, 7, 11, 29])
    torch.manual_seed(0)
    some = build_network(arch, reads=reads).eval()
    full = build_network(arch).eval()
    state = some.state_dict()
    assert torch.equal(state.pop(READS_KEY), torch.as_tensor(reads))
    first = next(k for k, v in state.items() if v.ndim == 2)  # the first layer's weight
    assert state[first].shape[1] == len(reads)
    # initialised as the read genes' weights of a network of all 30 genes are
    assert state[first].abs().max() <= 1 / np.sqrt(30) < state[first].abs().max() * 1.5
    padded = torch.zeros(state[first].shape[0], 30)
    padded[:, reads] = state[first]
    full.load_state_dict({**state, first: padded})
    x = torch.zeros(5, 30)
    x[:, reads] = torch.rand(5, len(reads))
    torch.testing.assert_close(some(x), full(x))
    x_other = x.clone()
    x_other[:, np.setdiff1d(np.arange(30), reads)] = 5.0
    torch.testing.assert_close(some(x_other), some(x))
    assert count_parameters(some) < count_parameters(full)


@pytest.mark.parametrize("kind", ["resvae", "vae"])
@pytest.mark.parametrize("likelihood", ["nb", "zinb", "gaussian", "mse"])
def test_a_vae_given_reads_encodes_and_reconstructs_those_genes(kind, likelihood):
    """The genes left out (constant on the training cells) are neither read nor decoded: the
    decoder's heads are as wide as ``reads``, the loss is that of those genes (a count
    likelihood's library still the cell's total), and ``widen`` puts the decoded genes back
    in place among all ``n_inputs``, 0 for the others (a count's share, a 0-1 scaled value
    whose inverse is the gene's constant)."""
    arch = {"kind": kind, "n_inputs": 20, "n_latent": 3, "widths": [8, 6, 4]}
    arch["likelihood"] = likelihood
    reads = np.arange(0, 20, 2)
    torch.manual_seed(0)
    vae = build_vae(arch, reads=reads).eval()
    x = torch.randint(0, 6, (4, 20)).float()  # counts (any values for the scaled ones)
    x_other = x.clone()
    x_other[:, 1::2] = 7.0
    out, out_other = vae(x, sample=False), vae(x_other, sample=False)
    torch.testing.assert_close(out["mu"], out_other["mu"])
    assert vae.encoder.units[0][0].in_features == 10
    assert vae.encoder.units[0][0].weight.abs().max() <= 1 / np.sqrt(20)
    assert vae.out.out_features == 10
    head = "recon" if likelihood in ("gaussian", "mse") else "scale"
    assert out[head].shape == (4, 10)
    if likelihood in ("nb", "zinb"):
        assert vae.log_theta.shape == (10,)
        torch.testing.assert_close(out["scale"].sum(1), torch.ones(4))
        library = x.sum(1, keepdim=True)  # every gene's counts
        dist = vae.distribution(out, library)
        torch.testing.assert_close(vae.loss(out, x)[0], -dist.log_prob(x[:, reads]).sum(1))
    else:
        diff = (out["recon"] - x[:, reads]).pow(2)
        if likelihood == "mse":
            torch.testing.assert_close(vae.loss(out, x)[0], diff.sum(1))
        else:  # the variance is that of the decoded genes' errors
            var = diff.mean()
            want = 0.5 * (diff / var + torch.log(var) + np.log(2 * np.pi)).sum(1)
            torch.testing.assert_close(vae.loss(out, x)[0], want)
    wide = vae.widen(out)
    assert wide[head].shape == (4, 20)
    torch.testing.assert_close(wide[head][:, reads], out[head])
    assert not wide[head][:, 1::2].any()
    full = build_vae(arch, reads=reads, decode_all=True)  # as saved on 2026-12-05
    assert full.out.out_features == 20
    assert full.encoder.units[0][0].in_features == 10
    assert build_vae(arch).out.out_features == 20


def test_the_supernet_given_reads_reads_those_genes():
    from scautogenome.nn import RRFCNSupernet

    torch.manual_seed(0)
    net = RRFCNSupernet(12, 2, n_layers=2, first_width=8, widths=[4, 8], reads=[1, 5, 6])
    assert net.stem.in_features == 3
    assert net.stem.weight.abs().max() <= 1 / np.sqrt(12)
    x = torch.rand(4, 12)
    x_other = x.clone()
    x_other[:, [0, 2, 3, 4, 7, 8, 9, 10, 11]] = 3.0
    arch = ([8, 4], [[], []])
    torch.testing.assert_close(net(x, *arch), net(x_other, *arch))


@pytest.mark.parametrize(
    ("reads", "match"),
    [
        ([], "non-empty 1-D array"),
        ([[1, 2]], "non-empty 1-D array"),
        ([0.5, 1.0], "non-empty 1-D array"),
        ([3, 1], "sorted, distinct positions in 0..9"),
        ([1, 1], "sorted, distinct positions in 0..9"),
        ([-1, 2], "sorted, distinct positions in 0..9"),
        ([2, 10], "sorted, distinct positions in 0..9"),
    ],
)
def test_reads_must_be_sorted_distinct_gene_positions(reads, match):
    with pytest.raises(ValueError, match=match):
        build_network({"kind": "mlp", "units": [4], "n_inputs": 10, "n_outputs": 2}, reads=reads)


def test_a_registered_family_without_reads_reads_every_gene():
    """A family registered with a class that takes no ``reads=`` builds, given the genes to
    read, as a network of every gene (their values are 0 after the transform anyway)."""
    from scautogenome.nn import register_network
    from scautogenome.nn._networks import _KINDS, _SPECIFIC

    class Linear(torch.nn.Module):
        def __init__(self, n_inputs, n_outputs, *, input_keep=1.0, dropout=0.0, act="relu"):
            super().__init__()
            self.head = torch.nn.Linear(n_inputs, n_outputs)

        def forward(self, x):
            return self.head(x)

    register_network("linear_test", Linear, ())
    try:
        arch = {"kind": "linear_test", "n_inputs": 6, "n_outputs": 2}
        net = build_network(arch, reads=np.array([1, 4]))
        assert net.head.in_features == 6
    finally:
        _KINDS.pop("linear_test"), _SPECIFIC.pop("linear_test")


def test_check_architecture_range_edges_booleans_and_stages():
    """Each range's edges are where its message says (``dropout`` 0 and ``input_keep`` 1 are
    valid, ``input_keep`` 0 is not), a bool is no size or rate, a 1-D numpy array is a list,
    and what a VAE's fit takes (a shorthand, ``likelihood='auto'``) is refused at build."""
    from scautogenome.nn import check_architecture, register_network
    from scautogenome.nn._networks import _KINDS, _SPECIFIC

    sizes = {"n_inputs": 10, "n_outputs": 3}
    vae = {"kind": "vae", "n_inputs": 10, "n_latent": 2, "widths": [4]}
    good = [
        {"kind": "mlp", "units": [4], "dropout": 0, "input_keep": 1, **sizes},
        {"kind": "densenet", "blocks": np.array([2, 1]), "growth_rate": 1, **sizes},
        {**vae, "n_latent": 1, "n_batch": 0},
    ]
    for arch in good:
        check_architecture(arch)
        (build_vae if arch["kind"] == "vae" else build_network)(arch)
    check_architecture({"kind": "vae", "n_layers": 1, "first_width": 4, "decay": 1}, stage="fit")
    check_architecture({"kind": "vae", "widths": [4], "likelihood": "auto"}, stage="fit")
    bad = [
        ({"kind": "resnet", "units": True, "n_blocks": 1, **sizes}, "units=True must be a pos"),
        ({"kind": "mlp", "units": [4], "input_keep": True, **sizes}, "input_keep=True must be"),
        (
            {"kind": "mlp", "units": [4], "input_keep": 0, **sizes},
            r"input_keep=0 must be .*\(0, 1\]",
        ),
        (
            {"kind": "densenet", "blocks": [2], "growth_rate": 4, "compression": 1.5, **sizes},
            "compression=1.5 must be",
        ),
        ({"kind": "densenet", "blocks": [2], "growth_rate": 0, **sizes}, "growth_rate=0 must be"),
        ({**vae, "n_latent": 0}, "n_latent=0 must be"),
        ({**vae, "likelihood": "auto"}, r"likelihood='auto' must be one of \['mse'"),
        ({**vae, "decay": 0.5}, r"Unknown key\(s\) \['decay'\]"),
        ({"kind": "rrfcn", "widths": [8, 8], "skips": [[], [0.5]], **sizes}, "skips=.* must be"),
    ]
    for arch, match in bad:
        with pytest.raises(ValueError, match=match):
            check_architecture(arch)
    with pytest.raises(ValueError, match=r"stage='train' must be one of \('build', 'fit'"):
        check_architecture({"kind": "mlp", "units": [4], **sizes}, stage="train")
    # a registered family's sizes are checked too (its own keys are its class's to check)
    register_network("linear_test", torch.nn.Linear, ())
    try:
        with pytest.raises(ValueError, match="n_inputs=0 must be a positive integer"):
            check_architecture({"kind": "linear_test", "n_inputs": 0, "n_outputs": 2})
    finally:
        _KINDS.pop("linear_test"), _SPECIFIC.pop("linear_test")


@pytest.mark.parametrize(
    "arch",
    [
        {"kind": "mlp", "units": [6, 5]},
        {"kind": "resnet", "units": 6, "n_blocks": 2},
        {"kind": "densenet", "blocks": [2, 2], "growth_rate": 3},
    ],
)
def test_every_fc_unit_takes_the_architecture_activation_and_dropout(arch):
    """``act`` and ``dropout`` are those of every FC unit (stem, blocks, transitions), each
    activation name its own torch module."""
    from scautogenome.nn._units import Dropout

    net = build_network({**arch, "n_inputs": 12, "n_outputs": 2, "act": "elu", "dropout": 0.3})
    units = [m for m in net.modules() if isinstance(m, FCUnit)]
    assert len(units) == {"mlp": 2, "resnet": 3, "densenet": 6}[arch["kind"]]
    for unit in units:
        assert [type(m) for m in unit][1:3] == [torch.nn.BatchNorm1d, torch.nn.ELU]
        assert isinstance(unit[3], Dropout)
        assert unit[3].p == pytest.approx(0.3)
    assert net(torch.randn(4, 12)).shape == (4, 2)
    acts = {"relu": torch.nn.ReLU, "elu": torch.nn.ELU, "gelu": torch.nn.GELU}
    acts["leaky_relu"] = torch.nn.LeakyReLU
    for name, cls in acts.items():
        assert type(FCUnit(3, 2, act=name)[2]) is cls
    assert len(FCUnit(3, 2)) == 3  # no dropout: Linear, BatchNorm1d, activation


def test_densenet_transitions_compress_between_blocks_only():
    """A transition unit follows every dense block but the last, ``compression`` of its
    width (0.5 by default), never narrower than ``growth_rate``; the head reads the last
    block's concatenation."""
    from scautogenome.nn._networks import _DenseBlock

    def widths(**kw):
        net = DenseNetFC(12, 2, blocks=[2, 2], growth_rate=3, **kw)
        assert isinstance(net.body[-1], _DenseBlock)
        transitions = [m.n_out for m in net.body if isinstance(m, FCUnit)]
        return transitions, net.head.in_features

    # the stem is 2 * 3 wide, a block of 2 units adds 2 * 3
    assert widths() == ([6], 12)
    assert widths(compression=0.75) == ([9], 15)
    assert widths(compression=0.1) == ([3], 9)


def test_resnet_has_n_blocks_units_after_its_stem():
    for n in (0, 1, 3):
        net = ResNetFC(5, 2, units=4, n_blocks=n)
        assert len(net.blocks) == n
        assert [u.n_in for u in net.blocks] == [4] * n


def test_input_keep_drops_input_genes_in_training_only():
    """The input dropout is applied to the genes the body reads (each kept with
    ``input_keep``, scaled by its inverse), in training and not in evaluation."""
    net = MLP(50, 2, units=[], input_keep=0.5)
    seen = []
    net.head.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    x = torch.ones(200, 50)
    torch.manual_seed(0)
    net.train()(x)
    assert abs((seen[0] == 0).float().mean().item() - 0.5) < 0.03
    assert set(seen[0].unique().tolist()) == {0.0, 2.0}
    net.eval()(x)
    assert torch.equal(seen[1], x)
    for keep in (0, 1.5):
        with pytest.raises(ValueError, match=r"input_keep=.* must be in \(0, 1\]"):
            MLP(10, 2, units=[4], input_keep=keep)


def test_dropout_keeps_one_minus_p_of_a_bfloat16_input():
    from scautogenome.nn._units import Dropout

    torch.manual_seed(0)
    y = Dropout(0.2).train()(torch.ones(1000, 1000, dtype=torch.bfloat16))
    kept = y > 0
    assert abs(kept.float().mean().item() - 0.8) < 0.005
    assert set(y[kept].float().unique().tolist()) == {1.25}


def test_a_network_given_reads_takes_rows_of_the_read_genes_only():
    """Given the read genes' columns only (as a loader that transformed only those gives
    them), the network computes what it does on all ``n_inputs``; its first layer's bias
    starts within ``1 / sqrt(n_inputs)`` too; :meth:`InputGenes.of` finds its genes."""
    from scautogenome.nn import InputGenes

    reads = np.arange(0, 400, 40)
    torch.manual_seed(0)
    net = build_network(
        {"kind": "mlp", "units": [8], "n_inputs": 400, "n_outputs": 2}, reads=reads
    ).eval()
    assert net.body[0][0].bias.abs().max() <= 1 / np.sqrt(400)
    x = torch.rand(3, 400)
    torch.testing.assert_close(net(x[:, reads]), net(x))
    assert InputGenes.of(net) is net.genes
    np.testing.assert_array_equal(net.genes.positions(), reads)
    assert InputGenes.of(torch.nn.Linear(3, 2)) is None
    assert (
        build_network(
            {"kind": "mlp", "units": [8], "n_inputs": 9, "n_outputs": 2}
        ).genes.positions()
        is None
    )


def test_build_network_refuses_a_vae_and_counts_parameters():
    with pytest.raises(ValueError, match=r"kind='vae' must be one of \['densenet', 'mlp'"):
        build_network({"kind": "vae", "n_inputs": 10, "n_latent": 2, "widths": [4]})
    assert count_parameters(MLP(10, 3, units=[])) == 10 * 3 + 3
    # Linear 10x4 + bias, BatchNorm weight and bias, head 4x3 + bias
    assert count_parameters(MLP(10, 3, units=[4])) == 44 + 8 + 15


@pytest.mark.parametrize("units", [np.array([8, 4]), np.array([], dtype=np.int64)])
def test_build_network_takes_the_numpy_widths_check_architecture_accepts(units):
    """A 1-D numpy array of widths passes check_architecture: build_network builds it (an
    MLP asked it for its truth value and failed)."""
    net = build_network({"kind": "mlp", "units": units, "n_inputs": 10, "n_outputs": 3})
    linear = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [*units.tolist(), 3]
