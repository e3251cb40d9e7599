"""The open inference protocol (KServe v2, as Triton's ``tritonclient.http`` speaks it) for
one text-classification model: the infer request read, the answer written.

The model takes one BYTES input ``text`` (shape ``[n]`` or ``[n, 1]``), given as JSON strings
or in the binary tensor data extension (each element a 4-byte little-endian length, then its
UTF-8 bytes, after a JSON header of ``Inference-Header-Content-Length`` bytes). It answers
``label`` (BYTES, ``[n]``) and ``probabilities`` (FP64, ``[n, n_classes]``, the classes in the
order the model metadata's ``parameters.labels`` gives), as JSON or binary as asked.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

INPUT = "text"
OUTPUTS = ("label", "probabilities")
VERSION = "1"


class V2Error(Exception):
    """A request the protocol refuses: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class InferRequest:
    texts: list[str]
    id: str | None = None
    outputs: dict[str, bool] = field(default_factory=dict)  # name -> binary answer


def tensor_metadata(n_classes: int) -> dict[str, Any]:
    return {"inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                        {"name": "probabilities", "datatype": "FP64",
                         "shape": [-1, n_classes]}]}


def parse_infer(body: bytes, header_length: str | None) -> InferRequest:
    """The texts, id and requested outputs of an infer request body."""
    header, binary = body, b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise V2Error(400, "Inference-Header-Content-Length must be the size of the "
                          f"JSON header, at most the body's {len(body):,} bytes")
        header, binary = body[:int(header_length)], body[int(header_length):]
    try:
        request = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise V2Error(400, f"the inference request is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise V2Error(400, "the inference request must be a JSON object")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise V2Error(400, f"`inputs` must hold one tensor, the BYTES input {INPUT!r}")
    texts = _texts(inputs[0], binary)
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error(400, "`id` must be a string")
    return InferRequest(texts, request_id, _outputs(request))


def _texts(tensor: dict[str, Any], binary: bytes) -> list[str]:
    if tensor.get("name") != INPUT:
        raise V2Error(400, f"unexpected input {tensor.get('name')!r}: the model takes one "
                      f"BYTES input {INPUT!r}")
    if tensor.get("datatype") != "BYTES":
        raise V2Error(400, f"input {INPUT!r} must have datatype BYTES, not "
                      f"{tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and len(shape) in (1, 2)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            and (len(shape) == 1 or shape[1] == 1)):
        raise V2Error(400, f"input {INPUT!r} must have shape [n] or [n, 1], not {shape!r}")
    parameters = tensor.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None:
        if not isinstance(size, int) or size != len(binary):
            raise V2Error(400, f"binary_data_size is {size!r} but {len(binary):,} bytes "
                          "follow the JSON header")
        elements = _unpack_bytes(binary)
    else:
        data = tensor.get("data")
        if not isinstance(data, list):
            raise V2Error(400, f"input {INPUT!r} has no `data` (nor binary data)")
        elements = _flatten(data)
    if len(elements) != shape[0]:
        raise V2Error(400, f"input {INPUT!r} has shape {shape} but {len(elements):,} "
                      "elements")
    return elements


def _flatten(data: list[Any]) -> list[str]:
    flat: list[str] = []
    for item in data:
        if isinstance(item, list):  # row-major nesting, as [[a], [b]] for shape [2, 1]
            flat.extend(_flatten(item))
        elif isinstance(item, str):
            flat.append(item)
        else:
            raise V2Error(400, f"every element of input {INPUT!r} must be a string, not "
                          f"{type(item).__name__}")
    return flat


def _unpack_bytes(binary: bytes) -> list[str]:
    texts, at = [], 0
    while at < len(binary):
        if at + 4 > len(binary):
            raise V2Error(400, "the binary data ends inside an element's length")
        (length,) = struct.unpack_from("<I", binary, at)
        at += 4
        if at + length > len(binary):
            raise V2Error(400, "the binary data ends inside an element")
        try:
            texts.append(binary[at:at + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise V2Error(400, f"element {len(texts)} of input {INPUT!r} is not UTF-8 text "
                          f"(byte {exc.start})") from None
        at += length
    return texts


def _outputs(request: dict[str, Any]) -> dict[str, bool]:
    parameters = request.get("parameters") or {}
    binary_default = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked = request.get("outputs")
    if asked is None:
        return dict.fromkeys(OUTPUTS, binary_default)
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise V2Error(400, "`outputs` must be a list of {\"name\": ...} objects")
    chosen: dict[str, bool] = {}
    for output in asked:
        name = output.get("name")
        if name not in OUTPUTS:
            raise V2Error(400, f"unknown output {name!r}; the model gives "
                          f"{' and '.join(map(repr, OUTPUTS))}")
        options = output.get("parameters") or {}
        chosen[name] = bool(options.get("binary_data", binary_default)) \
            if isinstance(options, dict) else binary_default
    return chosen


def encode(request: InferRequest, model: str, verdicts: list[str],
           probabilities: np.ndarray) -> tuple[bytes, int | None]:
    """The response body and, when some output is binary, the JSON header's length."""
    n = len(verdicts)
    outputs, blobs = [], []
    for name, binary in request.outputs.items():
        if name == "label":
            tensor: dict[str, Any] = {"name": name, "datatype": "BYTES", "shape": [n]}
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in verdicts) \
                if binary else None
            data: list[Any] = list(verdicts)
        else:
            values = np.ascontiguousarray(probabilities, dtype="<f8")
            tensor = {"name": name, "datatype": "FP64", "shape": list(values.shape)}
            raw = values.tobytes() if binary else None
            data = values.ravel().tolist()
        if raw is None:
            tensor["data"] = data
        else:
            tensor["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        outputs.append(tensor)
    response: dict[str, Any] = {"model_name": model, "model_version": VERSION}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = outputs
    header = json.dumps(response).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
