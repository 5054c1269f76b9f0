"""Checkpoints: safetensors + card.json round trips, atomic writes, clear errors, no pickle."""

import json
import os
import pickle
import struct

import pytest
import torch
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import save_file

from pinet.card import DataSourceRef, ModelCard, RecipeRef
from pinet.checkpoint import (
    CARD_FILE,
    CHECKPOINT_ID_KEY,
    ROW_SCALES_SUFFIX,
    WEIGHTS_FILE,
    CheckpointError,
    dequantize_rows,
    load_checkpoint,
    quantize_rows,
    read_card,
    save_checkpoint,
)
from pinet.nets import ImagePINet, PINet, SignalPINet, minimum_input_size

FP16_UNIT_ROUNDOFF = 2.0**-11  # relative rounding error of float16 for normal numbers
FP16_SUBNORMAL_ROUNDING = 2.0**-25  # absolute rounding error below 2**-14 (spacing 2**-24)


def make_card(network: PINet | None = None, **overrides) -> ModelCard:
    """A card describing `network` (default: a released-size SignalPINet for one channel),
    then `overrides` applied and validated."""
    network = network or SignalPINet(1)
    card = ModelCard.describing(
        network,
        name="signal-test",
        input_shape=(network.in_channels, *[64] * (network.trunk.blocks[0].conv.weight.ndim - 2)),
        recipe=RecipeRef(name="signal-sublevel", params={"spread": 0.25, "range": [-10, 10]}),
        data_source=DataSourceRef(name="basicmotions", params={"window": 64}),
        metrics={"test_mse": 0.0123},
        training={"epochs": 1, "optimizer": {"name": "adam", "beta1": 0.99, "eps": 0.1}},
    )
    return ModelCard.model_validate(card.model_dump() | overrides)


def trained_model(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """Run two training-mode forwards so BatchNorm running statistics leave their defaults."""
    model.train()
    with torch.no_grad():
        model(x)
        model(x * 2 + 1)
    return model.eval()


@pytest.fixture(scope="module")
def signal_model() -> SignalPINet:
    torch.manual_seed(0)
    return trained_model(SignalPINet(1), torch.randn(4, 1, 64))


@pytest.fixture(scope="module")
def saved(signal_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("ckpt") / "signal-test"
    card = save_checkpoint(signal_model, make_card(signal_model), directory)
    return directory, card


def test_float32_round_trip_is_bit_exact(signal_model, saved):
    directory, written = saved
    model, card = load_checkpoint(directory)

    assert card == written
    assert not model.training
    before, after = signal_model.state_dict(), model.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    running_mean = after["trunk.blocks.0.bn.running_mean"]
    assert running_mean.abs().max() > 0  # running statistics were saved, not just defaults
    x = torch.randn(3, 1, 100)
    with torch.no_grad():
        assert torch.equal(signal_model(x), model(x))


def test_card_records_what_the_save_filled_in(saved):
    directory, written = saved
    card = read_card(directory)
    assert card.dtype == "float32"
    assert card.checkpoint_id == written.checkpoint_id and len(card.checkpoint_id) == 32
    assert card.min_input_size == minimum_input_size(card.architecture["widths"]) == 8
    assert (card.family, card.format_version) == ("pinet", 2)
    assert card.created.tzinfo is not None
    assert {"python", "torch", "safetensors"} <= card.library_versions.keys()
    assert card.recipe.params["range"] == [-10, 10]
    assert card.training["optimizer"] == {"name": "adam", "beta1": 0.99, "eps": 0.1}
    raw = json.loads((directory / CARD_FILE).read_text())
    assert raw["input_shape"] == [1, 64] and raw["modality"] == "signal"


def test_float16_round_trip_has_float16_rounding_error(signal_model, tmp_path):
    card = save_checkpoint(signal_model, make_card(), tmp_path, dtype=torch.float16)
    assert card.dtype == "float16"
    with safe_open(tmp_path / WEIGHTS_FILE, framework="pt") as f:
        assert f.get_tensor("dense.weight").dtype == torch.float16
        assert f.get_tensor("trunk.blocks.0.bn.num_batches_tracked").dtype == torch.int64

    model, _ = load_checkpoint(tmp_path)
    worst = 0.0
    for key, original in signal_model.state_dict().items():
        loaded = model.state_dict()[key]
        assert loaded.dtype == original.dtype, key  # floats come back as float32
        if original.is_floating_point():
            error = (loaded - original).abs()
            bound = (original.abs() * FP16_UNIT_ROUNDOFF).clamp(min=FP16_SUBNORMAL_ROUNDING)
            assert (error <= bound).all(), key
            worst = max(worst, error.max().item())
        else:
            assert torch.equal(loaded, original), key
    assert worst > 0  # the weights really went through float16


def test_quantize_rows_keeps_each_row_within_half_a_step():
    torch.manual_seed(2)
    matrix = torch.randn(6, 4, 3) * torch.logspace(-3, 2, 6)[:, None, None]
    matrix[4] = 0.0  # an all-zero row
    values, scales = quantize_rows(matrix)
    assert values.dtype == torch.int8 and scales.shape == (6,)
    assert values[4].eq(0).all() and scales[4] == 1.0
    restored = dequantize_rows(values, scales)
    for row in range(6):
        assert (restored[row] - matrix[row]).abs().max() <= scales[row] / 2 + 1e-12
        assert values[row].abs().max() == (0 if row == 4 else 127)  # each row's full range


def test_int8_round_trip_stores_matrices_as_int8_and_the_rest_as_float16(signal_model, tmp_path):
    card = save_checkpoint(signal_model, make_card(), tmp_path, dtype=torch.int8)
    assert card.dtype == "int8"
    with safe_open(tmp_path / WEIGHTS_FILE, framework="pt") as f:
        stored = {key: f.get_tensor(key) for key in f.keys()}
    float16 = save_checkpoint(signal_model, make_card(), tmp_path / "f16", dtype=torch.float16)
    assert float16.dtype == "float16"
    assert (tmp_path / WEIGHTS_FILE).stat().st_size < 0.6 * (
        tmp_path / "f16" / WEIGHTS_FILE
    ).stat().st_size

    model, _ = load_checkpoint(tmp_path)
    parameters = dict(signal_model.named_parameters())
    for key, original in signal_model.state_dict().items():
        loaded = model.state_dict()[key]
        if key in parameters and original.ndim >= 2:
            assert stored[key].dtype == torch.int8, key
            values, scales = quantize_rows(original)
            assert torch.equal(stored[key + ROW_SCALES_SUFFIX], scales), key
            assert torch.equal(loaded, dequantize_rows(values, scales)), key
        elif original.is_floating_point():
            assert stored[key].dtype == torch.float16, key  # biases, norms, statistics
            assert torch.equal(loaded, original.half().float()), key
        else:
            assert torch.equal(loaded, original), key


def test_an_int8_file_out_of_form_is_named(signal_model, tmp_path):
    source = tmp_path / "source"
    save_checkpoint(signal_model, make_card(), source, dtype=torch.int8)
    with safe_open(source / WEIGHTS_FILE, framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
        metadata = f.metadata()
    broken = dict(tensors)
    del broken["dense.weight" + ROW_SCALES_SUFFIX]
    broken["trunk.blocks.1.conv.weight" + ROW_SCALES_SUFFIX] = torch.ones(3)
    broken["dense.bias"] = tensors["dense.bias"].float()
    save_file(broken, tmp_path / WEIGHTS_FILE, metadata=metadata)
    (tmp_path / CARD_FILE).write_bytes((source / CARD_FILE).read_bytes())
    with pytest.raises(CheckpointError, match="not stored as int8 as the card says") as caught:
        load_checkpoint(tmp_path)
    message = str(caught.value)
    assert "dense.weight stored as int8 without a scale per row" in message
    assert "trunk.blocks.1.conv.weight.row_scales is not" in message
    assert "dense.bias stored as torch.float32" in message


def test_image_model_round_trip(tmp_path):
    torch.manual_seed(1)
    model = trained_model(ImagePINet(2, head="sigmoid"), torch.rand(2, 2, 8, 8))
    card = make_card(model, name="image-test", input_shape=(2, 32, 32))
    save_checkpoint(model, card, tmp_path)
    loaded, loaded_card = load_checkpoint(tmp_path, device=torch.device("cpu"))
    assert isinstance(loaded, ImagePINet) and loaded.head == "sigmoid"
    assert loaded_card.modality == "image"
    assert torch.equal(loaded.deconv_bn.running_var, model.deconv_bn.running_var)
    x = torch.rand(2, 2, 12, 12)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_per_channel_model_round_trip(tmp_path):
    torch.manual_seed(2)
    model = trained_model(
        SignalPINet(3, widths=(4, 8, 8, 16), per_channel=True), torch.rand(2, 3, 40)
    )
    card = make_card(model)
    save_checkpoint(model, card, tmp_path)
    loaded, loaded_card = load_checkpoint(tmp_path, device=torch.device("cpu"))
    assert loaded.per_channel and loaded_card.per_channel
    x = torch.rand(2, 3, 40)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    card_without = make_card(model, per_channel=False)
    with pytest.raises(ValueError, match="per_channel"):
        save_checkpoint(model, card_without, tmp_path / "mismatch")


def test_averaging_model_round_trip(tmp_path):
    torch.manual_seed(3)
    model = trained_model(SignalPINet(1, average_reversed=True), torch.rand(2, 1, 64))
    save_checkpoint(model, make_card(model), tmp_path)
    loaded, loaded_card = load_checkpoint(tmp_path, device=torch.device("cpu"))
    assert loaded.average_reversed and loaded_card.architecture["average_reversed"]
    x = torch.rand(2, 1, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="average_reversed"):
        save_checkpoint(model, make_card(), tmp_path / "mismatch")


def test_checkpoint_holds_no_pickle(saved, monkeypatch):
    directory, _ = saved
    assert sorted(p.name for p in directory.iterdir()) == [CARD_FILE, WEIGHTS_FILE]
    raw = (directory / WEIGHTS_FILE).read_bytes()
    assert not raw.startswith((b"\x80", b"PK"))  # neither a pickle nor torch.save's zip
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_length])
    assert "dense.weight" in header and CHECKPOINT_ID_KEY in header["__metadata__"]
    json.loads((directory / CARD_FILE).read_text())

    def refuse(*args, **kwargs):
        raise AssertionError("load_checkpoint must not unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    model, _ = load_checkpoint(directory)
    assert isinstance(model, SignalPINet)


def _tamper_card(directory, **changes):
    path = directory / CARD_FILE
    card = json.loads(path.read_text())
    card.update(changes)
    path.write_text(json.dumps(card))


def test_card_inconsistent_with_itself_is_refused(signal_model, tmp_path):
    save_checkpoint(signal_model, make_card(), tmp_path)
    _tamper_card(tmp_path, in_channels=3)
    with pytest.raises(CheckpointError, match=r"input_shape \(1, 64\) has 1 channels but in_chann"):
        load_checkpoint(tmp_path)


def test_card_describing_another_architecture_names_the_tensors(signal_model, tmp_path):
    save_checkpoint(signal_model, make_card(), tmp_path)
    _tamper_card(tmp_path, in_channels=3, input_shape=[3, 64])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path)
    message = str(caught.value)
    assert "in_channels=3" in message
    assert "trunk.blocks.0.conv.weight stored (128, 1, 3), expected (128, 3, 3)" in message
    assert "dense.weight stored (2500, 1024), expected (7500, 1024)" in message


def test_a_card_claiming_a_huge_network_is_refused_before_building_it(signal_model, tmp_path):
    """A terabyte of filters is compared with the file's shapes, never allocated."""
    card = save_checkpoint(signal_model, make_card(), tmp_path)
    widths = [10**12, *card.architecture["widths"][1:]]
    _tamper_card(tmp_path, architecture={**card.architecture, "widths": widths})
    with pytest.raises(CheckpointError, match=r"does not match the architecture") as caught:
        load_checkpoint(tmp_path)
    assert f"expected ({10**12}, 1, 3)" in str(caught.value)


def test_missing_and_unexpected_tensors_are_named(signal_model, saved, tmp_path):
    directory, _ = saved
    with safe_open(directory / WEIGHTS_FILE, framework="pt") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
        metadata = f.metadata()
    del tensors["dense.bias"]
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, tmp_path / WEIGHTS_FILE, metadata=metadata)
    (tmp_path / CARD_FILE).write_bytes((directory / CARD_FILE).read_bytes())
    with pytest.raises(CheckpointError, match=r"missing tensors: dense\.bias") as caught:
        load_checkpoint(tmp_path)
    assert "unexpected tensors: extra.weight" in str(caught.value)


def test_unknown_modality_is_refused(signal_model, tmp_path):
    save_checkpoint(signal_model, make_card(), tmp_path)
    _tamper_card(tmp_path, modality="audio")
    with pytest.raises(CheckpointError, match=r"(?s)not a valid model card.*modality.*'signal'"):
        load_checkpoint(tmp_path)


def test_a_truncated_card_is_named_in_one_line(signal_model, tmp_path):
    save_checkpoint(signal_model, make_card(), tmp_path)
    path = tmp_path / CARD_FILE
    path.write_text(path.read_text()[:100])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(tmp_path)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{path} is not a valid model card: Invalid JSON: EOF")


def test_missing_files_are_reported(signal_model, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no card\.json"):
        load_checkpoint(tmp_path / "nowhere")
    save_checkpoint(signal_model, make_card(), tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        load_checkpoint(tmp_path)


def test_truncated_weights_are_reported(signal_model, tmp_path):
    save_checkpoint(signal_model, make_card(), tmp_path)
    path = tmp_path / WEIGHTS_FILE
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(signal_model, saved, monkeypatch):
    directory, card = saved
    real_replace = os.replace

    def crash(src, dst):
        raise OSError("simulated crash before the first rename")

    monkeypatch.setattr(os, "replace", crash)
    other = SignalPINet(1).eval()
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(other, make_card(), directory)
    monkeypatch.setattr(os, "replace", real_replace)

    assert sorted(p.name for p in directory.iterdir()) == [CARD_FILE, WEIGHTS_FILE]  # no temps
    model, loaded_card = load_checkpoint(directory)
    assert loaded_card.checkpoint_id == card.checkpoint_id
    assert torch.equal(model.dense.weight, signal_model.dense.weight)


def test_files_from_two_saves_are_detected(signal_model, tmp_path, monkeypatch):
    """A crash between the two renames leaves new weights beside the old card."""
    save_checkpoint(signal_model, make_card(), tmp_path)
    real_replace = os.replace
    renames = []

    def crash_on_second_rename(src, dst):
        renames.append(dst)
        if len(renames) == 2:
            raise OSError("simulated crash between the renames")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second_rename)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(SignalPINet(1), make_card(), tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    with pytest.raises(CheckpointError, match="come from different saves"):
        load_checkpoint(tmp_path)


def test_float16_overflow_is_refused_before_writing(tmp_path):
    model = SignalPINet(1).eval()
    with torch.no_grad():
        model.trunk.blocks[2].bn.running_var[5] = 1e6  # beyond float16's 65504
    with pytest.raises(ValueError, match=r"'trunk\.blocks\.2\.bn\.running_var' does not fit"):
        save_checkpoint(model, make_card(), tmp_path / "ckpt", dtype=torch.float16)
    assert not (tmp_path / "ckpt").exists()


def test_save_refuses_a_card_for_another_model(tmp_path):
    with pytest.raises(ValueError, match=r"says in_channels 1 \(the model has 2\)"):
        save_checkpoint(SignalPINet(2), make_card(), tmp_path)
    image_card = make_card(modality="image", input_shape=(1, 32, 32))
    with pytest.raises(ValueError, match=r"modality 'image' \(the model has 'signal'\)"):
        save_checkpoint(SignalPINet(1), image_card, tmp_path)
    with pytest.raises(ValueError, match="describes a PINet but the model is a Linear"):
        save_checkpoint(torch.nn.Linear(2, 2), make_card(), tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"float32, float16 or int8; got torch\.bfloat16"):
        save_checkpoint(SignalPINet(1), make_card(), tmp_path, dtype=torch.bfloat16)
    assert list(tmp_path.iterdir()) == []


def test_card_validation(tmp_path):
    with pytest.raises(ValidationError, match=r"expected \(C, H, W\)"):
        make_card(modality="image", input_shape=(1, 64))
    with pytest.raises(ValueError, match="min_input_size 4, below the minimum of 8 of its Signal"):
        save_checkpoint(SignalPINet(1), make_card(min_input_size=4), tmp_path)
    with pytest.raises(ValidationError, match="smaller than min_input_size 100"):
        make_card(min_input_size=100)
    with pytest.raises(ValidationError, match="name"):
        make_card(name="../escape")
    assert make_card(min_input_size=32).min_input_size == 32  # stricter than the model is fine


def test_card_json_round_trip_keeps_non_finite_metrics():
    card = make_card(metrics={"val_mse": float("nan"), "best": float("inf")})
    again = ModelCard.model_validate_json(card.model_dump_json())
    assert again.metrics["best"] == float("inf")
    assert again.metrics["val_mse"] != again.metrics["val_mse"]  # NaN survives, not None


def test_a_deeper_model_round_trips_and_its_card_needs_longer_inputs(tmp_path):
    widths = (4, 8, 8, 16, 16, 32)
    model = trained_model(SignalPINet(1, widths=widths), torch.randn(4, 1, 64))
    card = make_card(model)
    assert card.min_input_size == 32
    save_checkpoint(model, card, tmp_path)
    loaded, _ = load_checkpoint(tmp_path, device=torch.device("cpu"))
    x = torch.randn(2, 1, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="below the minimum of 32 of its SignalPINet"):
        save_checkpoint(model, make_card(model, min_input_size=16), tmp_path)


def test_a_format_1_card_reads_as_the_format_2_card_that_says_the_same():
    """Cards written before model families kept the "pinet" options at the top level."""
    first_format = {
        "format_version": 1,
        "name": "old",
        "modality": "signal",
        "in_channels": 3,
        "head": "sigmoid",
        "widths": [4, 8, 8, 16, 16],
        "per_channel": True,
        "average_reversed": True,
        "input_shape": [3, 250],
        "recipe": {"name": "signal-sublevel"},
        "data_source": {"name": "hapt"},
    }
    card = ModelCard.model_validate_json(json.dumps(first_format))
    assert (card.format_version, card.family, card.per_channel) == (2, "pinet", True)
    assert card.architecture == {
        "head": "sigmoid",
        "widths": [4, 8, 8, 16, 16],
        "average_reversed": True,
    }
    assert card.min_input_size == 16  # format 1 let the architecture's minimum be implied
    network = card.build_network()
    assert isinstance(network, SignalPINet) and network.average_reversed
