"""The "pinet" family, Signal / Image PI-Net: shapes, released parameter counts, layout,
Keras-'same' semantics, and the family registry that builds them."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pinet.nets import TRUNK_WIDTHS, ImagePINet, SignalPINet, build_network, minimum_input_size
from pinet.nets.layers import interpolated_twice, same_max_pool
from pinet.nets.pinet import DECONV_PADDING, correlate_same
from pinet.tda import PI_SIZE
from pinet.tda.persistence import sublevel_diagrams
from pinet.tda.reference import finite_pairs

# Parameter counts of the released Keras models for C = 3. Keras' summary counts BatchNorm's
# moving mean and variance as (non-trainable) parameters, 4 per channel; PyTorch keeps those
# two as buffers, so we add them to the trainable count (and leave out num_batches_tracked).
RELEASED_SIGNAL_PARAMETERS = 9_760_000  # "about 9.76 M" (SPEC 3)
RELEASED_IMAGE_PARAMETERS = 8_776_223  # the authors' model summary (SPEC 3)


def keras_parameter_count(model: nn.Module) -> int:
    trainable = sum(p.numel() for p in model.parameters())
    batchnorm_stats = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    )
    return trainable + batchnorm_stats


@pytest.fixture(scope="module")
def signal_model() -> SignalPINet:
    torch.manual_seed(0)
    return SignalPINet(3).eval()


@pytest.fixture(scope="module")
def image_model() -> ImagePINet:
    torch.manual_seed(0)
    return ImagePINet(3).eval()


def test_parameter_counts_match_the_release():
    signal, image = SignalPINet(3), ImagePINet(3)
    assert abs(keras_parameter_count(signal) / RELEASED_SIGNAL_PARAMETERS - 1) < 0.01
    assert abs(keras_parameter_count(image) / RELEASED_IMAGE_PARAMETERS - 1) < 0.01
    # The counts follow from the released layer list exactly, not just within 1 %.
    assert keras_parameter_count(signal) == 9_762_636
    assert keras_parameter_count(image) == RELEASED_IMAGE_PARAMETERS


@pytest.mark.parametrize("length", [minimum_input_size(TRUNK_WIDTHS), 9, 31, 250, 1001])
def test_signal_output_shape(signal_model, length):
    with torch.no_grad():
        out = signal_model(torch.randn(2, 3, length))
    assert out.shape == (2, 3, PI_SIZE, PI_SIZE)
    assert torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("size", [(8, 8), (9, 13), (28, 28), (32, 32), (17, 40)])
def test_image_output_shape(image_model, size):
    with torch.no_grad():
        out = image_model(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, PI_SIZE, PI_SIZE)
    assert torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("channels", [1, 3, 6])
@pytest.mark.parametrize("modality", ["signal", "image"])
def test_output_has_one_image_per_input_channel(modality, channels):
    model = build_network(modality, channels).eval()
    x = torch.randn(1, channels, 16) if modality == "signal" else torch.rand(1, channels, 16, 16)
    with torch.no_grad():
        assert model(x).shape == (1, channels, PI_SIZE, PI_SIZE)


def test_signal_layout_is_channel_first():
    """Dense units [2500 c, 2500 (c + 1)) are channel c's image, in row-major order."""
    model = SignalPINet(3).eval()
    with torch.no_grad():
        model.dense.weight.zero_()
        model.dense.bias.zero_()
        model.dense.bias[2 * 2500 + 7 * 50 + 11] = 1.0  # channel 2, row 7, column 11
        out = model(torch.randn(1, 3, 64))
    expected = torch.zeros(1, 3, PI_SIZE, PI_SIZE)
    expected[0, 2, 7, 11] = 1.0
    assert torch.equal(out, expected)


def test_image_layout_is_channel_first():
    """Filter c of the transposed conv produces output channel c and no other."""
    model = ImagePINet(4).eval()
    with torch.no_grad():
        model.deconv.weight.zero_()
        model.deconv.bias.zero_()
        model.deconv.weight[1] = 1.0  # only filter 1 sees the 50 x 50 map
        model.dense.bias.fill_(1.0)  # so the map is positive whatever the features
        out = model(torch.rand(1, 4, 16, 16))
    assert (out[0, 1] > 0).all()
    assert torch.equal(out[0, [0, 2, 3]], torch.zeros(3, PI_SIZE, PI_SIZE))


def test_too_short_signal_is_refused(signal_model):
    with pytest.raises(ValueError, match="signal length is 7; SignalPINet needs at least 8"):
        signal_model(torch.randn(1, 3, 7))


@pytest.mark.parametrize("size", [(7, 32), (32, 5)])
def test_too_small_image_is_refused(image_model, size):
    with pytest.raises(ValueError, match=f"image side is {min(size)}; ImagePINet needs at least 8"):
        image_model(torch.rand(1, 3, *size))


def test_wrong_channels_and_shapes_are_refused(signal_model, image_model):
    with pytest.raises(ValueError, match="signal has 2 channels; SignalPINet expects 3"):
        signal_model(torch.randn(1, 2, 250))
    with pytest.raises(ValueError, match=r"batch of shape \(N, C, T\); got .* \(3, 250\)"):
        signal_model(torch.randn(3, 250))
    with pytest.raises(ValueError, match=r"batch of shape \(N, C, H, W\)"):
        image_model(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="floating-point image"):
        image_model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_build_network_and_its_errors():
    assert isinstance(build_network("signal", 2), SignalPINet)
    assert build_network("image", 1, head="sigmoid").head == "sigmoid"
    with pytest.raises(ValueError, match="unknown modality 'audio'"):
        build_network("audio", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown head 'tanh'"):
        build_network("signal", 3, head="tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        build_network("image", 0)
    with pytest.raises(
        ValueError, match="unknown model family 'resnet'; known: lowrank, pinet, raster"
    ):
        build_network("image", 3, family="resnet")
    with pytest.raises(ValueError, match=r"no option.* rank; its options are head, widths"):
        build_network("image", 3, rank=4)


def test_a_network_reports_what_rebuilds_it():
    """`architecture` holds the family's options as JSON values; with the family, modality,
    channels and per_channel they rebuild the same network."""
    network = build_network("signal", 2, per_channel=True, widths=(4, 8), head="sigmoid")
    assert network.architecture == {"head": "sigmoid", "widths": [4, 8], "average_reversed": False}
    rebuilt = build_network(
        network.modality, 2, family=network.family, per_channel=True, **network.architecture
    )
    assert type(rebuilt) is SignalPINet and rebuilt.widths == (4, 8) and rebuilt.per_channel
    rebuilt.load_state_dict(network.state_dict())  # the same tensors, the same shapes


def test_sigmoid_head_spans_the_unit_interval():
    """Sigmoid replaces the signal head's ReLU: sigmoid(relu(z)) would never go below 0.5."""
    model = SignalPINet(2, head="sigmoid").eval()
    with torch.no_grad():
        model.dense.bias[:2500].fill_(-5.0)
        out = model(torch.randn(3, 2, 40))
    assert out.shape == (3, 2, PI_SIZE, PI_SIZE)
    assert (out > 0).all() and (out < 1).all()
    assert out[:, 0].max() < 0.5


def test_batch_norm_uses_keras_defaults():
    bn = SignalPINet(1).trunk.blocks[0].bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.1)


def test_same_max_pool_windows_start_at_zero_like_keras():
    # Even length: TF pads one -inf at the end, windows [1, 2, 3] and [3, 4, pad].
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    assert same_max_pool(x).tolist() == [[[3.0, 4.0]]]
    assert F.max_pool1d(x, 3, 2, padding=1).tolist() == [[[2.0, 4.0]]]  # what we avoid
    # Odd length: one -inf on each side.
    x = torch.tensor([[[1.0, 5.0, 2.0, 0.0, 3.0]]])
    assert same_max_pool(x).tolist() == [[[5.0, 5.0, 3.0]]]


def _reference_same_max_pool_1d(values: list[float], k: int = 3, s: int = 2) -> list[float]:
    """TensorFlow's definition, written out: out[i] = max over the window at i s - pad_before."""
    n = len(values)
    out_len = math.ceil(n / s)
    pad_before = max((out_len - 1) * s + k - n, 0) // 2
    return [
        max(values[j] for j in range(i * s - pad_before, i * s - pad_before + k) if 0 <= j < n)
        for i in range(out_len)
    ]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=40))
def test_same_max_pool_matches_tensorflow_definition(values):
    out = same_max_pool(torch.tensor([[values]], dtype=torch.float32))
    assert out[0, 0].tolist() == _reference_same_max_pool_1d(values)


def test_same_max_pool_2d_halves_each_side_rounding_up():
    assert same_max_pool(torch.randn(1, 2, 7, 10)).shape == (1, 2, 4, 5)


def test_image_deconv_is_the_adjoint_of_a_tensorflow_same_conv():
    """Keras Conv2DTranspose(C, 50, 'same') is the adjoint (gradient) of a conv whose 'same'
    padding puts 24 rows / columns before and 25 after (TF's rule for an even kernel). Our head
    holds it as a Conv2d with the Keras kernel flipped. Check <conv(u), z> = <u, deconv(z)>
    for random u, z: a padding off by one fails this."""
    torch.manual_seed(1)
    model = ImagePINet(2)
    keras_kernel = model.deconv.weight.detach().flip(-2, -1)  # (C, 1, 50, 50)
    z = torch.randn(1, 1, PI_SIZE, PI_SIZE)
    u = torch.randn(4, 1, PI_SIZE, PI_SIZE)
    with torch.no_grad():
        deconv_z = correlate_same(z, model.deconv.weight, torch.zeros(2))
        tf_same_conv_u = F.conv2d(F.pad(u, (24, 25, 24, 25)), keras_kernel)  # (4, C, 50, 50)
    lhs = (tf_same_conv_u * z).sum(dim=(2, 3))  # (4, C)
    rhs = (u * deconv_z).sum(dim=(2, 3))  # (4, C)
    torch.testing.assert_close(lhs, rhs, rtol=1e-4, atol=1e-3)
    misaligned = (u * torch.roll(deconv_z, 1, dims=-1)).sum(dim=(2, 3))
    assert not torch.allclose(lhs, misaligned, rtol=1e-4, atol=1e-3)


def test_fft_correlation_equals_the_direct_padded_conv_values_and_gradients():
    torch.manual_seed(2)
    maps = torch.rand(3, 1, PI_SIZE, PI_SIZE, requires_grad=True)
    kernels = torch.randn(2, 1, PI_SIZE, PI_SIZE, requires_grad=True)
    bias = torch.randn(2, requires_grad=True)
    direct = F.conv2d(F.pad(maps, DECONV_PADDING), kernels, bias)
    through_fft = correlate_same(maps, kernels, bias)
    torch.testing.assert_close(through_fft, direct, rtol=1e-5, atol=1e-4)
    weights = torch.randn_like(direct)
    grads_direct = torch.autograd.grad((direct * weights).sum(), (maps, kernels, bias))
    grads_fft = torch.autograd.grad((through_fft * weights).sum(), (maps, kernels, bias))
    for got, expected in zip(grads_fft, grads_direct, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-3)


def test_eval_output_of_a_sample_does_not_depend_on_its_batch():
    """In eval mode BatchNorm uses running statistics, so samples do not interact."""
    model = SignalPINet(1).eval()
    x = torch.randn(4, 1, 100)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1:3], model(x[1:3]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("modality, shape", [("signal", (5, 3, 40)), ("image", (5, 3, 16, 16))])
def test_a_per_channel_model_is_one_network_applied_to_each_channel(modality, shape):
    torch.manual_seed(0)
    shared = build_network(modality, 3, widths=(4, 8, 8, 16), per_channel=True).eval()
    single = build_network(modality, 1, widths=(4, 8, 8, 16)).eval()
    single.load_state_dict(shared.state_dict())  # the same tensors: one channel's network
    x = torch.randn(shape)
    with torch.no_grad():
        together = shared(x)
        apart = torch.cat([single(x[:, c : c + 1]) for c in range(3)], dim=1)
    assert together.shape == (5, 3, PI_SIZE, PI_SIZE)
    torch.testing.assert_close(together, apart)


AVERAGED_NETWORKS = {
    "signal": ("pinet", (4, 2, 40), {}),
    "image": ("pinet", (4, 2, 16, 12), {}),
    "image, value bins": ("lowrank", (4, 2, 16, 12), {"value_bins": 3}),
    "image, raster path": ("raster", (4, 2, 16, 12), {"value_bins": 3}),
    "signal, densities": (
        "lowrank",
        (4, 2, 57),
        {"delay_embedding": (3, 5), "recurrence_radii": (0.5, 1.0), "value_bins": 3},
    ),
    "signal, densities among every third point": (
        "pinet",
        (4, 2, 56),
        {"delay_embedding": (4, 3), "recurrence_radii": (1.0,), "recurrence_stride": 3},
    ),
    "signal, densities of the points two samples away and more": (
        "lowrank",
        (4, 2, 57),
        {"delay_embedding": (3, 5), "recurrence_radii": (0.5, 1.0), "recurrence_gap": 2},
    ),
}


@pytest.mark.parametrize("name", AVERAGED_NETWORKS)
def test_an_averaging_model_is_the_mean_over_the_input_and_its_reversal(name: str) -> None:
    # The averaging model encodes its inputs once (delay coordinates, densities, value
    # bumps) and reverses the encoding; the plain model encodes the reversed inputs.
    family, shape, options = AVERAGED_NETWORKS[name]
    modality = "signal" if len(shape) == 3 else "image"
    torch.manual_seed(0)
    widths = (4, 8, 8, 16)
    averaging = build_network(
        modality, 2, family=family, widths=widths, average_reversed=True, **options
    ).eval()
    plain = build_network(modality, 2, family=family, widths=widths, **options).eval()
    plain.load_state_dict(averaging.state_dict())  # the flag adds no weights
    x = torch.randn(shape)
    reversed_x = x.flip(tuple(range(2, x.ndim)))
    with torch.no_grad():
        mean = (plain(x) + plain(reversed_x)) / 2
        torch.testing.assert_close(averaging(x), mean)
        torch.testing.assert_close(averaging(reversed_x), averaging(x))
        assert not torch.allclose(plain(reversed_x), plain(x))
        trunk, path = averaging.trunk, averaging.trunk_input
        torch.testing.assert_close(
            trunk.reversed_encoding(trunk.encode(path(x))), trunk.encode(path(reversed_x))
        )


def test_interpolating_a_signal_to_twice_its_rate_keeps_its_samples_and_its_diagrams() -> None:
    torch.manual_seed(0)
    x = torch.cat([torch.randn(3, 2, 40), torch.randn(3, 2, 40).round()])  # ties too
    doubled = interpolated_twice(x)
    assert doubled.shape == (6, 2, 79)
    assert torch.equal(doubled[..., ::2], x)
    torch.testing.assert_close(doubled[..., 1::2], (x[..., 1:] + x[..., :-1]) / 2)
    for path, twice in zip(x.flatten(0, 1).double(), doubled.flatten(0, 1).double(), strict=True):
        (ours,), (theirs,) = (
            sublevel_diagrams(twice[None].numpy()),
            sublevel_diagrams(path[None].numpy()),
        )
        np.testing.assert_array_equal(finite_pairs(ours), finite_pairs(theirs))


@pytest.mark.parametrize("family", ["pinet", "lowrank"])
def test_a_resampling_model_is_the_mean_over_the_signal_at_its_rate_and_at_twice_it(
    family: str,
) -> None:
    torch.manual_seed(0)
    options = {"widths": (4, 8, 8, 16), "average_reversed": True}
    averaging = build_network("signal", 2, family=family, average_resampled=True, **options).eval()
    assert averaging.architecture["average_resampled"]
    plain = build_network("signal", 2, family=family, **options).eval()
    assert "average_resampled" not in plain.architecture  # cards written before it still match
    plain.load_state_dict(averaging.state_dict())  # the flag adds no weights
    rebuilt = build_network("signal", 2, family=family, **averaging.architecture).eval()
    rebuilt.load_state_dict(averaging.state_dict())
    x = torch.randn(3, 2, 37)
    with torch.no_grad():
        mean = (plain(x) + plain(interpolated_twice(x))) / 2
        torch.testing.assert_close(averaging(x), mean)
        torch.testing.assert_close(rebuilt(x), mean)
        assert not torch.allclose(plain(x), mean)
    with pytest.raises(ValueError, match="resampled inputs takes signals, not images"):
        build_network("image", 2, average_resampled=True)


def test_a_per_channel_model_has_as_many_weights_for_any_channel_count():
    counts = {
        channels: sum(p.numel() for p in SignalPINet(channels, per_channel=True).parameters())
        for channels in (1, 3, 6)
    }
    assert len(set(counts.values())) == 1
    assert counts[3] < sum(p.numel() for p in SignalPINet(3).parameters())


def test_more_blocks_see_further_and_need_longer_inputs():
    deep = SignalPINet(3, widths=(4, 8, 8, 16, 16, 32)).eval()
    assert deep.min_input_size == 32 == minimum_input_size((4, 8, 8, 16, 16, 32))
    with torch.no_grad():
        assert deep(torch.randn(2, 3, 32)).shape == (2, 3, PI_SIZE, PI_SIZE)
    with pytest.raises(ValueError, match="signal length is 31; SignalPINet needs at least 32"):
        deep(torch.randn(2, 3, 31))
