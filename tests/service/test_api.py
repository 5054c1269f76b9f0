"""Every route of a real server, on the happy path."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest

from pinet.inference import load_model, predict
from pinet.tda import get_recipe
from pinet.tda.inputs import standardise
from service.launcher import Server
from tests.service.helpers import IMAGE, RNG, SIGNAL, npy, png


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_models_lists_every_checkpoint(client: httpx.Client) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == {
        *("tiny-signal", "tiny-signal-per-channel", "tiny-signal-onnx"),
        *("tiny-image", "tiny-image-cubical", "tiny-image-rips"),
    }
    signal = models["tiny-signal"]
    assert signal["modality"] == "signal"
    assert signal["channels"] == 3 and signal["per_channel"] is False
    assert signal["average_reversed"] is False
    assert models["tiny-signal-per-channel"]["per_channel"] is True
    assert models["tiny-signal-per-channel"]["average_reversed"] is True
    assert signal["average_resampled"] is False
    assert models["tiny-signal-per-channel"]["average_resampled"] is True
    assert signal["input_shape"] == [3, 250]
    assert signal["recipe"]["name"] == "signal-sublevel"
    assert signal["recipe"]["params"] == get_recipe("signal-sublevel").params
    assert signal["metrics"] == {"val_mse": 0.0123, "val_ssim": 0.5}
    assert signal["device"] == "cpu" and signal["family"] == "pinet"
    assert (signal["backend"], signal["precision"]) == ("torch", "float32")
    assert models["tiny-image"]["recipe"]["name"] == "image-raster"
    assert signal["training_ranges"] == {"channels": [3, 3], "sizes": [250, 250]}
    assert signal["data_source"] == {"name": "synthetic", "params": {}}
    assert signal["source_metrics"] == {}


def test_signal_json_matches_pinet_predict(client: httpx.Client, server: Server) -> None:
    response = client.post("/v1/signals/pi", json={"signal": SIGNAL.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shape"] == [3, 50, 50]
    assert body["model"]["name"] == "tiny-signal"
    assert body["timing"]["pinet_ms"] > 0 and body["timing"]["batch_size"] >= 1
    assert body["exact"] is None
    expected = predict(load_model(server.models_dir / "tiny-signal", "cpu"), SIGNAL)
    np.testing.assert_allclose(np.array(body["pi"]), expected, atol=1e-5)


@pytest.mark.parametrize("channels", [1, 3, 6])
def test_a_per_channel_model_takes_any_channel_count(
    client: httpx.Client, server: Server, channels: int
) -> None:
    """Its PI of a channel does not depend on the other channels, as with the exact recipe."""
    signal = np.concatenate([SIGNAL, SIGNAL[::-1]])[:channels]
    response = client.post(
        "/v1/signals/pi",
        json={"signal": signal.tolist(), "model": "tiny-signal-per-channel", "compare": True},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["shape"] == [channels, 50, 50]
    model = load_model(server.models_dir / "tiny-signal-per-channel", "cpu")
    one_at_a_time = np.concatenate([predict(model, channel[None]) for channel in signal])
    np.testing.assert_allclose(np.array(body["pi"]), one_at_a_time, atol=1e-5)
    assert np.shape(body["exact"]["pi"]) == (channels, 50, 50)


def test_a_reversal_averaged_model_gives_a_reversed_signal_the_same_pi(
    client: httpx.Client,
) -> None:
    """As the exact recipe does: a reversed signal has the same sublevel diagram."""
    pis = [
        client.post(
            "/v1/signals/pi", json={"signal": s.tolist(), "model": "tiny-signal-per-channel"}
        ).json()["pi"]
        for s in (SIGNAL, SIGNAL[:, ::-1])
    ]
    np.testing.assert_allclose(pis[0], pis[1], atol=1e-6)
    assert np.ptp(pis[0]) > 0


SMALL_IMAGE = IMAGE[:, :12, :12]  # Rips of 144 points per channel: quick


@pytest.mark.parametrize(
    ("route", "model", "x", "upload"),
    [
        ("/v1/signals/pi", "tiny-signal", SIGNAL, ("s.npy", npy(SIGNAL))),
        ("/v1/images/pi", "tiny-image", IMAGE, ("i.png", png(IMAGE.transpose(1, 2, 0)))),
        ("/v1/images/pi", "tiny-image", IMAGE, ("i.npy", npy(IMAGE))),
        ("/v1/images/pi", "tiny-image-rips", SMALL_IMAGE, ("i.npy", npy(SMALL_IMAGE))),
    ],
)
def test_compare_gives_the_recipes_exact_pi(
    client: httpx.Client,
    route: str,
    model: str,
    x: np.ndarray,
    upload: tuple[str, bytes],
) -> None:
    response = client.post(route, files={"file": upload}, data={"model": model, "compare": "true"})
    assert response.status_code == 200, response.text
    body = response.json()
    card_recipe = client.get("/v1/models").json()["models"]
    recipe = next(m["recipe"] for m in card_recipe if m["name"] == model)
    expected = get_recipe(recipe["name"], recipe["params"]).images(x)
    np.testing.assert_allclose(np.array(body["exact"]["pi"]), expected, atol=1e-6)
    pinet = np.array(body["pi"])
    assert body["mse"] == pytest.approx(float(np.mean((pinet - expected) ** 2)), rel=1e-4)
    exact_ms = body["exact"]["diagram_ms"] + body["exact"]["image_ms"]
    assert body["speedup"] == pytest.approx(exact_ms / body["timing"]["pinet_ms"], rel=1e-6)


def test_csv_upload_with_header_equals_json(client: httpx.Client) -> None:
    text = "x,y,z\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in SIGNAL.T)
    from_csv = client.post("/v1/signals/pi", files={"file": ("s.csv", text.encode())})
    from_json = client.post("/v1/signals/pi", json={"signal": SIGNAL.tolist()})
    assert from_csv.status_code == 200, from_csv.text
    np.testing.assert_allclose(from_csv.json()["pi"], from_json.json()["pi"], atol=1e-5)


def test_format_npy_returns_the_array(client: httpx.Client) -> None:
    response = client.post(
        "/v1/signals/pi", params={"format": "npy"}, json={"signal": SIGNAL.tolist()}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    pi = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert pi.shape == (3, 50, 50) and pi.dtype == np.float32
    as_json = client.post("/v1/signals/pi", json={"signal": SIGNAL.tolist()}).json()["pi"]
    np.testing.assert_allclose(pi, as_json, atol=1e-5)


@pytest.mark.parametrize("model", ["tiny-signal", "tiny-signal-onnx"])
def test_json_pis_are_the_float32_values_and_name_the_models_recipe(
    client: httpx.Client, model: str
) -> None:
    """Each JSON number reads back as exactly the float32 of the .npy answer (shortest
    round-trip digits), and `model` names the model and its recipe as /v1/models does, on
    every request (the reference is built once per model)."""
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    body = {"signal": SIGNAL.tolist(), "model": model}
    for _ in range(2):
        as_npy = client.post("/v1/signals/pi", params={"format": "npy"}, json=body)
        as_json = client.post("/v1/signals/pi", json=body).json()
        assert as_json["timing"]["batch_size"] == 1  # alone in its pass, as the .npy one
        pi = np.load(io.BytesIO(as_npy.content), allow_pickle=False)
        np.testing.assert_array_equal(np.array(as_json["pi"], dtype=np.float32), pi)
        assert as_json["model"] == {"name": model, "recipe": listed[model]["recipe"]}


def test_rgba_alpha_is_dropped_with_a_note(client: httpx.Client) -> None:
    rgba = np.concatenate([IMAGE, np.full((1, 32, 32), 128, np.uint8)]).transpose(1, 2, 0)
    response = client.post("/v1/images/pi", files={"file": ("a.png", png(rgba, "RGBA"))})
    assert response.status_code == 200, response.text
    assert response.json()["shape"] == [3, 50, 50]
    assert any("alpha" in note for note in response.json()["notes"])
    rgb = client.post("/v1/images/pi", files={"file": ("b.png", png(IMAGE.transpose(1, 2, 0)))})
    np.testing.assert_allclose(response.json()["pi"], rgb.json()["pi"], atol=1e-5)


def test_other_input_sizes_are_served_with_a_note(client: httpx.Client) -> None:
    longer = RNG.normal(size=(3, 400))
    response = client.post("/v1/signals/pi", json={"signal": longer.tolist()})
    assert response.status_code == 200, response.text
    assert response.json()["shape"] == [3, 50, 50]
    (note,) = response.json()["notes"]
    assert "outside the training range of model 'tiny-signal'" in note
    assert "size 400 (trained on 250)" in note
    in_range = client.post("/v1/signals/pi", json={"signal": SIGNAL.tolist()})
    assert in_range.json()["notes"] == []


def test_channels_far_from_their_mean_get_a_note_naming_them(client: httpx.Client) -> None:
    """A sublevel signal model's learned PIs are weakest on channels with far values: the
    answer names each channel reaching PINET_FAR_VALUE_Z (4) standard deviations, with its
    reach; a batch names its inputs that hold one. Images get no such note."""
    walk = np.random.default_rng(2).normal(size=(3, 250)).cumsum(axis=-1)
    assert np.abs(standardise(walk)).max() < 4
    dropped = walk.copy()
    dropped[1, 100] -= 40 * walk[1].std()
    reach = np.abs(standardise(dropped[1])).max()
    assert reach > 4
    smooth = client.post("/v1/signals/pi", json={"signal": walk.tolist()})
    assert smooth.status_code == 200, smooth.text
    assert smooth.json()["notes"] == []
    (note,) = client.post("/v1/signals/pi", json={"signal": dropped.tolist()}).json()["notes"]
    assert f"by standard deviations: 1 ({reach:.1f}); learned sublevel PIs" in note
    assert "compare=true or POST /v1/signals/topology" in note
    batch = np.stack([walk, dropped, walk, dropped])
    answer = client.post("/v1/signals/pi:batch", files={"file": ("b.npy", npy(batch))})
    (note,) = answer.json()["notes"]
    assert note.startswith("2 of the 4 inputs have a channel reaching far from its mean")
    assert "(inputs 1, 3)" in note
    spiky = np.zeros((32, 32, 3), np.uint8)
    spiky[5, 5] = 255
    image = client.post("/v1/images/pi", files={"file": ("a.png", png(spiky))})
    assert image.status_code == 200, image.text
    assert image.json()["notes"] == []


def test_out_of_range_notes_name_each_reason(client: httpx.Client) -> None:
    """Only sizes count: a per-channel model takes any channel count as trained."""
    five = RNG.normal(size=(2, 5, 250))
    batch = client.post(
        "/v1/signals/pi:batch",
        files={"file": ("b.npy", npy(five))},
        data={"model": "tiny-signal-per-channel"},
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["notes"] == []
    longer = client.post("/v1/signals/pi:batch", files={"file": ("b.npy", npy(five[:, :3, :100]))})
    assert "size 100 (trained on 250)" in longer.json()["notes"][0]
    wide = png(np.zeros((16, 40, 3), np.uint8))
    image = client.post("/v1/images/pi", files={"file": ("a.png", wide)})
    assert image.status_code == 200, image.text
    (note,) = image.json()["notes"]
    assert "size 16x40 (trained on 32)" in note


def test_openapi_documents_the_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/v1/models", "/v1/signals/pi", "/v1/images/pi"} <= set(paths)
    content = paths["/v1/signals/pi"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)


def test_an_onnx_model_is_served_by_onnxruntime(client: httpx.Client, server: Server) -> None:
    """Its card names the graph: the service runs it with onnxruntime, and answers what the
    same weights answer in torch."""
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert (listed["tiny-signal-onnx"]["backend"], listed["tiny-signal-onnx"]["precision"]) == (
        "onnxruntime",
        "float32",
    )
    body = {"signal": SIGNAL.tolist(), "model": "tiny-signal-onnx"}
    response = client.post("/v1/signals/pi", json=body)
    assert response.status_code == 200, response.text
    torch_model = load_model(server.models_dir / "tiny-signal-onnx", "cpu", backend="torch")
    np.testing.assert_allclose(response.json()["pi"], predict(torch_model, SIGNAL), atol=1e-5)
