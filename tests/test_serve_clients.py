"""critic serve with the protocols' own clients (issue 31): Hugging Face's
``InferenceClient.text_classification`` against ``POST /`` and Triton's ``tritonclient.http``
against the open inference protocol (v2) routes, on a server over loopback; plus each
documented body sent by hand (httpx), errors included."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import invoke, serving
from test_bundle import tiny_options, tiny_reviews

from critic import train_bundle

REVIEWS = ["superb and wonderful, a great film", "dull and awful, boring", "it was a film"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("clients") / "tiny",
                        reviews=tiny_reviews()).path


@pytest.fixture(scope="module")
def server(bundle: Path) -> Iterator[str]:
    with serving(bundle) as (_, url):
        yield url


def _critic_predict(bundle: Path, texts: list[str], tmp_path: Path) -> list[dict[str, object]]:
    """``critic predict BUNDLE --input reviews.jsonl --json``: one record per review."""
    source = tmp_path / "reviews.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    done = invoke("predict", str(bundle), "--input", str(source), "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


# Hugging Face ---------------------------------------------------------------------------

@pytest.mark.parametrize("top_k", [1, 2, None])
def test_hugging_face_client_gets_what_v1_predict_gives(server: str, top_k: int | None
                                                        ) -> None:
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=server)
    for review in REVIEWS:
        answer = client.text_classification(review, top_k=top_k)
        assert isinstance(answer, list) and len(answer) == (top_k or 2)
        expected = httpx.post(f"{server}/v1/predict", json={
            "inputs": review, "parameters": {"top_k": top_k}}).json()["predictions"][0]
        assert [a.label for a in answer] == [x["label"] for x in expected["labels"]]
        assert [a.score for a in answer] == pytest.approx(
            [x["score"] for x in expected["labels"]], abs=1e-6)
        assert answer[0].label == expected["label"]


def test_hugging_face_function_to_apply(server: str) -> None:
    from huggingface_hub import InferenceClient

    client = InferenceClient(model=server)
    probabilities = client.text_classification(REVIEWS[0], function_to_apply="softmax")
    assert [a.score for a in client.text_classification(REVIEWS[0], function_to_apply="sigmoid")
            ] == pytest.approx([a.score for a in probabilities])
    log_odds = client.text_classification(REVIEWS[0], function_to_apply="none")
    assert [a.label for a in log_odds] == [a.label for a in probabilities]
    assert [1 / (1 + np.exp(-a.score)) for a in log_odds] == pytest.approx(
        [a.score for a in probabilities], abs=1e-9)


def test_hugging_face_client_reads_the_error(server: str) -> None:
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as raised:
        InferenceClient(model=server).text_classification("x" * 200_000)
    assert raised.value.response.status_code == 413
    assert "review 0 has 200,000 characters" in str(raised.value)


def test_hugging_face_bodies_by_hand(server: str) -> None:
    one = httpx.post(server + "/", json={"inputs": REVIEWS[0]})
    assert one.status_code == 200
    ranked = one.json()
    assert len(ranked) == 1 and [x["label"] for x in ranked[0]] == ["positive", "negative"]
    assert sum(x["score"] for x in ranked[0]) == pytest.approx(1)
    many = httpx.post(server + "/", json={"inputs": REVIEWS, "parameters": {"top_k": 1}}).json()
    assert [len(r) for r in many] == [1, 1, 1]
    assert [r[0]["label"] for r in many[:2]] == ["positive", "negative"]
    bad = httpx.post(server + "/", json={"inputs": 3})
    assert bad.status_code == 422
    assert bad.json() == {"error": "`inputs` must be a string or a list of strings",
                          "error_type": "invalid_request"}
    refused = httpx.post(server + "/", json={"inputs": "x",
                                            "parameters": {"function_to_apply": "relu"}})
    assert refused.status_code == 422 and "function_to_apply" in refused.json()["error"]


# KServe / Triton v2 ---------------------------------------------------------------------

def _infer(server: str, texts: list[str], *, binary: bool, outputs: list[str] | None = None,
           request_id: str = "") -> object:
    import tritonclient.http as triton

    host = server.removeprefix("http://")
    with triton.InferenceServerClient(host, network_timeout=120) as client:
        tensor = triton.InferInput("text", [len(texts)], "BYTES")
        tensor.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=np.object_),
                                   binary_data=binary)
        requested = [triton.InferRequestedOutput(o, binary_data=binary)
                     for o in outputs] if outputs else None
        return client.infer("tiny", [tensor], outputs=requested, request_id=request_id)


@pytest.mark.parametrize("n", [1, 2, 1_000])
@pytest.mark.parametrize("binary", [True, False])
def test_triton_client_infer_equals_critic_predict(server: str, bundle: Path, tmp_path: Path,
                                                   n: int, binary: bool) -> None:
    texts = [REVIEWS[i % 3] + f" {i}" * (i % 4) for i in range(n)]
    result = _infer(server, texts, binary=binary)
    expected = _critic_predict(bundle, texts, tmp_path)
    labels = [label.decode() for label in result.as_numpy("label")]  # type: ignore[attr-defined]
    assert labels == [e["label"] for e in expected]
    probabilities = result.as_numpy("probabilities")  # type: ignore[attr-defined]
    assert probabilities.shape == (n, 2) and probabilities.dtype == np.float64
    assert probabilities == pytest.approx(
        np.array([[e["probabilities"]["negative"], e["probabilities"]["positive"]]  # type: ignore[index]
                  for e in expected]), abs=1e-6)


def test_triton_client_metadata_config_and_requested_outputs(server: str) -> None:
    import tritonclient.http as triton

    with triton.InferenceServerClient(server.removeprefix("http://")) as client:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("tiny") and client.is_model_ready("tiny", "1")
        metadata = client.get_model_metadata("tiny")
        assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        assert {o["name"]: o["shape"] for o in metadata["outputs"]} == {
            "label": [-1], "probabilities": [-1, 2]}
        assert metadata["parameters"]["labels"] == ["negative", "positive"]
        config = client.get_model_config("tiny")
        assert [o["name"] for o in config["output"]] == ["label", "probabilities"]
        assert not client.is_model_ready("another")
        with pytest.raises(triton.InferenceServerException, match="not 'another'"):
            client.get_model_metadata("another")
    only = _infer(server, REVIEWS, binary=False, outputs=["probabilities"], request_id="r-7")
    response = only.get_response()  # type: ignore[attr-defined]
    assert response["id"] == "r-7" and [o["name"] for o in response["outputs"]] == [
        "probabilities"]
    assert only.as_numpy("label") is None  # type: ignore[attr-defined]


def test_triton_client_gets_the_servers_error(server: str) -> None:
    import tritonclient.http as triton

    with triton.InferenceServerClient(server.removeprefix("http://")) as client:
        tensor = triton.InferInput("text", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([b"fine"], dtype=np.object_))
        with pytest.raises(triton.InferenceServerException, match="not 'nope'") as raised:
            client.infer("nope", [tensor])
        assert raised.value.status() == "404"
        with pytest.raises(triton.InferenceServerException, match="unknown output 'score'"):
            client.infer("tiny", [tensor], outputs=[triton.InferRequestedOutput("score")])


@pytest.mark.parametrize("path", ["/v2/models/tiny/infer", "/v2/models/tiny/versions/1/infer"])
def test_v2_json_bodies_by_hand(server: str, path: str) -> None:
    body = {"id": "42", "inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES",
                                    "data": [[REVIEWS[0]], [REVIEWS[1]]]}]}
    answer = httpx.post(server + path, json=body)
    assert answer.status_code == 200
    response = answer.json()
    assert response["id"] == "42" and response["model_name"] == "tiny"
    outputs = {o["name"]: o for o in response["outputs"]}
    assert outputs["label"] == {"name": "label", "datatype": "BYTES", "shape": [2],
                                "data": ["positive", "negative"]}
    assert outputs["probabilities"]["shape"] == [2, 2]
    assert len(outputs["probabilities"]["data"]) == 4


def test_v2_binary_body_by_hand(server: str) -> None:
    raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in REVIEWS[:2])
    header = json.dumps({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "outputs": [{"name": "label", "parameters": {"binary_data": True}}]
                         }).encode()
    answer = httpx.post(server + "/v2/models/tiny/infer", content=header + raw,
                        headers={"Inference-Header-Content-Length": str(len(header))})
    assert answer.status_code == 200
    length = int(answer.headers["inference-header-content-length"])
    response = json.loads(answer.content[:length])
    blob = answer.content[length:]
    assert response["outputs"][0]["parameters"]["binary_data_size"] == len(blob)
    assert blob == b"".join(struct.pack("<I", len(v)) + v for v in (b"positive", b"negative"))


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("/v2/models/other/infer", {"inputs": []}, 404, "not 'other'"),
    ("/v2/models/tiny/versions/2/infer", {"inputs": []}, 404, "version '1' only"),
    ("/v2/models/tiny/infer", {"inputs": []}, 400, "one tensor"),
    ("/v2/models/tiny/infer", {"inputs": [{"name": "review", "shape": [1],
                                           "datatype": "BYTES", "data": ["x"]}]}, 400,
     "unexpected input 'review'"),
    ("/v2/models/tiny/infer", {"inputs": [{"name": "text", "shape": [1], "datatype": "FP32",
                                           "data": [1.0]}]}, 400, "datatype BYTES"),
    ("/v2/models/tiny/infer", {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                           "data": ["x"]}]}, 400, "1 elements"),
    ("/v2/models/tiny/infer", {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                           "data": [5]}]}, 400, "must be a string"),
    ("/v2/models/tiny/infer", {"inputs": [{"name": "text", "shape": [0], "datatype": "BYTES",
                                           "data": []}]}, 400, "at least one review"),
    ("/v2/models/tiny/infer", b"{nope", 400, "not valid JSON"),
    ("/v2/models/tiny/nope", {}, 404, "Not Found"),
])
def test_v2_errors_are_the_protocols(server: str, path: str, body: object, status: int,
                                     message: str) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = httpx.post(server + path, content=content)
    assert answer.status_code == status
    assert list(answer.json()) == ["error"] and message in answer.json()["error"]
