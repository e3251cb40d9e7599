"""critic serve: the API in process, the real server over loopback, and the page in Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port, headless_chromium, needs_chromium, serving
from fastapi.testclient import TestClient
from test_bundle import tiny_options, tiny_reviews, toy_recipe

import critic
from critic._train import train_bundle
from critic.serve.app import create_app
from critic.serve.limits import Limits


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_bundle(tiny_options(), tmp_path_factory.mktemp("serve") / "tiny",
                        reviews=tiny_reviews()).path


@pytest.fixture(scope="module")
def client(bundle: Path) -> TestClient:
    return TestClient(create_app(critic.load(bundle), Limits(max_inputs=100, max_chars=5_000,
                                                             max_body_bytes=200_000)))


def test_predict_one_or_many_in_order(client: TestClient) -> None:
    one = client.post("/v1/predict", json={"inputs": "superb and wonderful"})
    assert one.status_code == 200
    assert one.json()["predictions"][0]["label"] == "positive"
    many = client.post("/v1/predict", json={"inputs": ["dull awful", "great superb", "boring"]})
    labels = [p["label"] for p in many.json()["predictions"]]
    assert labels == ["negative", "positive", "negative"]
    positive = critic.load(client.app.app.state.predictor.bundle.path).predict_proba(
        ["dull awful", "great superb", "boring"])
    # score is the confidence in the label (Hugging Face's meaning), not P(positive).
    scores = [p["score"] for p in many.json()["predictions"]]
    assert scores == pytest.approx([1 - positive[0], positive[1], 1 - positive[2]], abs=1e-6)
    probabilities = [p["probabilities"] for p in many.json()["predictions"]]
    assert [p["positive"] for p in probabilities] == pytest.approx(positive, abs=1e-6)
    assert all(p["negative"] + p["positive"] == pytest.approx(1) for p in probabilities)


def test_hugging_face_bodies_and_answers(client: TestClient) -> None:
    texts = ["dull awful", "great superb"]
    positive = client.app.app.state.predictor.predict_proba(texts)
    ranked = client.post("/v1/predict", json={"inputs": texts, "parameters": {"top_k": None}})
    assert ranked.status_code == 200
    first = ranked.json()["predictions"][0]["labels"]
    assert [x["label"] for x in first] == ["negative", "positive"]
    assert [x["score"] for x in first] == pytest.approx([1 - positive[0], positive[0]], abs=1e-6)
    # POST / answers as a Hugging Face Inference Endpoint: one ranked list per input.
    one = client.post("/", json={"inputs": "great superb"}).json()
    assert one == [[{"label": "positive", "score": pytest.approx(positive[1])},
                    {"label": "negative", "score": pytest.approx(1 - positive[1])}]]
    many = client.post("/", json={"inputs": texts, "parameters": {"top_k": 1}}).json()
    assert [[x["label"] for x in r] for r in many] == [["negative"], ["positive"]]
    both = client.post("/", json={"inputs": "dull awful", "parameters": {"top_k": None}}).json()
    assert [x["label"] for x in both[0]] == ["negative", "positive"]
    for bad in ({"top_k": 0}, {"top_k": "2"}, {"function": "x"}):
        refused = client.post("/v1/predict", json={"inputs": "x", "parameters": bad})
        assert refused.status_code == 422
        assert "top_k" in refused.json()["error"]["message"]


def test_kserve_v2_health_and_metadata(client: TestClient) -> None:
    name = client.app.app.state.predictor.bundle.path.name
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "critic"
    metadata = client.get(f"/v2/models/{name}").json()
    assert metadata["name"] == name and metadata["inputs"][0]["datatype"] == "BYTES"
    assert metadata["versions"] == ["1"] and metadata["parameters"]["labels"] == [
        "negative", "positive"]
    assert client.get(f"/v2/models/{name}/ready").json() == {"name": name, "ready": True}
    missing = client.get("/v2/models/another")
    assert missing.status_code == 404 and "not 'another'" in missing.json()["error"]


def test_a_linear_n_gram_bundle_is_served_and_explained(tmp_path: Path) -> None:
    path = train_bundle(toy_recipe("nblr"), tmp_path / "nblr", reviews=tiny_reviews()).path
    client = TestClient(create_app(critic.load(path), Limits()))
    assert client.get("/v1/model").json()["config"]["model"] == {"name": "nblr",
                                                                 "type": "linear"}
    body = client.post("/v1/predict", json={"inputs": ["the plot was dull and boring"],
                                            "explain": True}).json()["predictions"][0]
    assert body["label"] == "negative" and body["explanation_method"] == "additive"
    words = {w["word"]: w["contribution"] for w in body["explanation"]}
    assert words["dull"] < 0 and any(" " in word for word in words)  # n-grams listed too


def test_explain_adds_word_contributions(client: TestClient) -> None:
    body = client.post("/v1/predict", json={"inputs": ["the plot was dull"], "explain": True})
    prediction = body.json()["predictions"][0]
    assert prediction["tokens"] == ["the", "plot", "was", "dull"]
    words = {w["word"]: w["contribution"] for w in prediction["explanation"]}
    assert words["dull"] < 0


def test_service_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    model = client.get("/v1/model").json()
    assert model["name"] == "tiny" and model["config"]["labels"] == ["negative", "positive"]
    assert len(model["data_checksum"]) == 64
    assert client.get("/docs").status_code == 200
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "Is this review positive or negative?" in page.text
    client.post("/v1/predict", json={"inputs": ["a", "b"]})
    metrics = client.get("/metrics").text
    assert 'critic_requests_total{method="POST",path="/v1/predict",status="200"}' in metrics
    assert "critic_request_seconds_bucket" in metrics and "critic_inputs_scored_total" in metrics


@pytest.mark.parametrize(("body", "status", "code", "message"), [
    ({"inputs": []}, 422, "empty_inputs", "at least one review"),
    ({"inputs": ["x"] * 10_000}, 413, "too_many_inputs", "10,000 reviews"),
    ({"inputs": "x" * 6_000}, 413, "review_too_long", "6,000 characters"),
    ({"inputs": 5}, 422, "invalid_request", "a string or a list of strings"),
    ({"inputs": ["fine", 3]}, 422, "invalid_request", "a string or a list of strings"),
    ({"inputs": "x", "explain": "yes"}, 422, "invalid_request", "`explain` must be"),
    ({"text": "x"}, 422, "invalid_request", "inputs"),
    (b"{not json", 422, "invalid_request", "not valid JSON"),
    (b'{"inputs": "\xff\xfe"}', 422, "invalid_request", "not valid UTF-8"),
    (b"x" * 300_000, 413, "body_too_large", "larger than 200,000 bytes"),
])
def test_bad_requests_get_json_errors(client: TestClient, body: object, status: int, code: str,
                                      message: str) -> None:
    if isinstance(body, bytes):
        response = client.post("/v1/predict", content=body,
                               headers={"content-type": "application/json"})
    else:
        response = client.post("/v1/predict", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and message in error["message"]


def test_unknown_paths_and_methods_are_json(client: TestClient) -> None:
    assert client.get("/nope").json()["error"]["code"] == "not_found"
    assert client.get("/v1/predict").json()["error"]["code"] == "method_not_allowed"


def test_too_many_concurrent_requests_get_503(bundle: Path) -> None:
    guard = create_app(critic.load(bundle), Limits(max_concurrent=2))
    guard.app.state.slots.taken = 2  # as if two requests were being scored
    response = TestClient(guard).post("/v1/predict", json={"inputs": "x"})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "overloaded"
    guard.app.state.slots.taken = 0
    assert TestClient(guard).post("/v1/predict", json={"inputs": "x"}).status_code == 200


@pytest.fixture(scope="module")
def server(bundle: Path) -> Iterator[str]:
    """``critic serve`` in its own process on a free loopback port."""
    with serving(bundle, "--max-concurrent", "8") as (_, url):
        yield url


def test_real_server_answers_over_http(server: str) -> None:
    response = httpx.post(f"{server}/v1/predict", json={"inputs": ["superb", "awful"]})
    assert [p["label"] for p in response.json()["predictions"]] == ["positive", "negative"]


def test_real_server_survives_200_clients_and_a_disconnect(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as half:  # hang up mid-body
        half.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        with httpx.Client(timeout=30) as c:
            code = c.post(f"{server}/v1/predict", json={"inputs": ["superb"] * 50}).status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=call) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(statuses) == 200
    assert set(statuses) <= {200, 503} and statuses.count(200) > 0
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_sigterm_lets_the_request_in_flight_finish(bundle: Path) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "critic", "serve", str(bundle), "--port",
                                str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    result: dict[str, object] = {}

    def slow_request() -> None:
        reviews = ["the plot was dull and the film superb " * 200] * 1000
        result["response"] = httpx.post(f"{url}/v1/predict", json={"inputs": reviews},
                                        timeout=60)

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    # uvicorn finishes the request, shuts down, then re-raises SIGTERM (exit status -15).
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert result["response"].status_code == 200  # type: ignore[union-attr]
    assert len(result["response"].json()["predictions"]) == 1000  # type: ignore[union-attr]


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_serve_refuses_a_bad_bundle(bundle: Path, tmp_path: Path, damage: str) -> None:
    target = tmp_path / "b"
    if damage == "corrupt":
        shutil.copytree(bundle, target)
        weights = bytearray((target / "weights.safetensors").read_bytes())
        weights[-1] ^= 0xFF
        (target / "weights.safetensors").write_bytes(bytes(weights))
    done = subprocess.run([sys.executable, "-m", "critic", "serve", str(target), "--port",
                           str(free_port())], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert ("does not exist" if damage == "missing" else "does not match") in done.stderr


@needs_chromium
def test_page_in_headless_chromium(server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium(tmp_path / "profile", phone=True) as driver:
        driver.get(server + "/")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.text_to_be_present_in_element((By.ID, "model"), "Model tiny"))
        box = driver.find_element(By.ID, "review")
        box.send_keys("The plot was dull and boring, but the cast was superb.")
        box.send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard path, no mouse
        wait.until(ec.visibility_of_element_located((By.ID, "verdict")))
        verdict = driver.find_element(By.ID, "verdict").text
        label, _, sure = verdict.partition(" (")
        assert label in ("Positive", "Negative") and sure.endswith("% sure)")
        assert float(sure.split()[0]) >= 50  # the confidence in the verdict, not P(positive)
        marks = driver.find_elements(By.CSS_SELECTOR, "#highlighted mark")
        assert [m.text for m in marks][:3] == ["the", "plot", "was"]
        classes = {m.text: m.get_attribute("class") for m in marks}
        assert classes["dull"] == "neg" and classes["superb"] == "pos"
        assert "% positive" in driver.find_element(By.ID, "probability").text
        width = driver.execute_script("return [window.innerWidth, "
                                      "document.documentElement.scrollWidth]")
        assert width[0] == 390 and width[1] <= 390  # no sideways scrolling on a phone
        if os.environ.get("CRITIC_SCREENSHOT"):
            driver.save_screenshot(os.environ["CRITIC_SCREENSHOT"])


def test_default_limits_refuse_a_5_mb_review_and_10000_inputs(bundle: Path) -> None:
    client = TestClient(create_app(critic.load(bundle)))  # the defaults critic serve uses
    huge = client.post("/v1/predict", json={"inputs": "great " * 900_000})  # 5.4 MB
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "review_too_long"
    many = client.post("/v1/predict", json={"inputs": ["fine"] * 10_000})
    assert many.status_code == 413 and many.json()["error"]["code"] == "too_many_inputs"
    assert client.post("/v1/predict", json={"inputs": ["fine"] * 1_000}).status_code == 200


def test_every_limit_is_an_option_of_serve_with_its_default() -> None:
    """The options are made from :class:`Limits` itself, so they cannot drift apart."""
    import dataclasses

    from conftest import invoke

    shown = invoke("serve", "--help").stdout
    for field in dataclasses.fields(Limits):
        assert "--" + field.name.replace("_", "-") in shown, field.name
    assert "[default: 16384]" in shown  # max_header_bytes's


def _samples(exposition: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in a Prometheus text exposition."""
    found = {}
    for line in exposition.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            found[series[len(name):]] = float(value)
    return found


def test_metrics_add_up_every_worker_and_never_go_backwards(bundle: Path,
                                                            tmp_path: Path) -> None:
    with serving(bundle, "--workers", "2", env={"TMPDIR": str(tmp_path)}) as (process, url):
        for _ in range(30):  # a new connection each: both workers get some
            assert httpx.post(f"{url}/v1/predict", json={"inputs": ["great", "dull"]}
                              ).status_code == 200
        scrapes = [httpx.get(f"{url}/metrics").text for _ in range(8)]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    text = scrapes[0]
    for name, kind in (("critic_requests_total", "counter"),
                       ("critic_request_seconds", "histogram"),
                       ("critic_inputs_scored_total", "counter")):
        assert f"# HELP {name} " in text and f"# TYPE {name} {kind}\n" in text
    for scrape in scrapes:  # whichever worker answers, the sums are all the workers'
        assert _samples(scrape, "critic_inputs_scored_total") == {"": 60.0}
        predicted = _samples(scrape, "critic_requests_total")
        assert predicted['{method="POST",path="/v1/predict",status="200"}'] == 30.0
    # The workers' metric files lived in a folder of their own, removed at the end.
    assert not list(tmp_path.glob("critic-metrics-*"))


def test_api_docs_load_without_the_internet(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = [part.split('"')[1] for part in page.text.split("src=")[1:]]
    sources += [part.split('"')[1] for part in page.text.split("href=")[1:]]
    assert sources and all(src.startswith("/") for src in sources), sources
    for src in sources:
        assert client.get(src).status_code == 200, src
    assert client.get("/openapi.json").json()["info"]["title"] == "critic"


@needs_chromium
def test_api_docs_render_in_a_browser_offline(server: str, tmp_path: Path) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with headless_chromium(tmp_path / "profile") as driver:
        driver.get(server + "/docs")  # these machines reach no CDN: the assets are local
        try:
            WebDriverWait(driver, 20).until(ec.text_to_be_present_in_element(
                (By.CSS_SELECTOR, ".swagger-ui .title"), "critic"))
        except TimeoutException:  # seen once in seven runs: say what the browser had
            titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".title")]
            pytest.fail(f"no title 'critic' after 20 s; titles {titles!r}, browser log "
                        f"{driver.get_log('browser')!r}, page ends "
                        f"{driver.page_source[-1500:]!r}")
        assert driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
