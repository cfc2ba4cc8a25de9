"""Export the MTCNN face detector (P-Net, R-Net, O-Net) to ONNX for the ``local`` backend.

Run with the export venv (the only place torch is installed)::

    .venv-export/bin/pip install --no-deps facenet-pytorch==2.6.0
    .venv-export/bin/python local/tools/export_faces.py

Weights: ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` shipped inside the facenet-pytorch 2.6.0 wheel (MIT licence;
Tim Esler's PyTorch port of the MTCNN weights of Zhang et al. 2016, converted from the authors' Caffe models via
David Sandberg's facenet). They are loaded strictly into facenet-pytorch's own ``PNet``/``RNet``/``ONet`` classes.
facenet-pytorch's ``__init__`` imports requests and torchvision, neither needed for the three networks, so the
package is imported with those submodules stubbed out. Nothing is downloaded.

Writes ``layers/model/photosort_model/mtcnn_{pnet,pnet_stride4,rnet,onet}.onnx`` and ``FACES_PROVENANCE.json`` (hashes,
source wheel, and the maximum difference between torch and ONNX Runtime on fixed random inputs).

Speed rewrite (:func:`fast_prelu`, applied after the export): ONNX Runtime's ``PRelu`` kernel broadcasts its
per-channel slope element by element, and took about half of all the detector's time (P-Net's first ``PRelu``
alone cost 4 times its convolution). Each ``PRelu(z, a)`` on an image tensor becomes
``Relu(z) + Conv1x1dw(Relu(Conv1x1dw(z, -1)), -a)`` = ``max(z, 0) + a * min(z, 0)``: for every element one term is
exactly 0 and the other is the product PRelu computes, so the outputs are bit-identical, while every node is one
that ONNX Runtime keeps in its blocked (NCHWc) layout and fuses (a 1x1 depthwise convolution is a per-channel
scale). A ``PRelu`` on a flat tensor (after a dense layer) becomes ``Relu(z) + Min(z, 0) * a``. P-Net's softmax
over its two classes, run over every cell of every pyramid level, becomes a sigmoid of the logit difference
(:func:`sigmoid_probability`; equal to within float32 rounding). The export checks that the rewritten graph gives
exactly what the plain one does (within 1e-5 for the sigmoid), and records it in the provenance. To rewrite the
committed files without torch (only the ``onnx`` package is needed)::

    .venv-export/bin/python local/tools/export_faces.py --rewrite-only

Graph rebuild (:func:`build`, applied last): the same weights in graphs written by hand for ONNX Runtime's CPU
kernels. Each image ``PRelu`` becomes ``z + (1 - a) * Relu(-z)``: a negating 1x1 depthwise convolution fused with
its ``Relu`` and a scaling one fused with the sum, two blocked-layout passes instead of four. P-Net's two heads are
one 1x1 convolution whose output ``logit_regression`` holds the face logit (the detector thresholds the logit and
takes the sigmoid of the few cells it keeps) and the four box offsets: one output to copy back out of the blocked
layout instead of two. R-Net's first convolution gets 4 zero channels (28 -> 32, slope 0, zero weights in the next
convolution) so that its pooling stays in the blocked layout, and the dense layers' columns are permuted so that
the flatten needs no ``Transpose``. Outputs within float32 rounding of the previous files (checked, < 1e-5, recorded
in the provenance). P-Net's first ``PRelu`` moves after its pooling (exact: see :meth:`_Graph.conv_prelu_pool`).
P-Net on the largest pyramid level of a 12 MP photo: 3.0 -> 2.0 ms, R-Net on 48 crops 2.4 -> 1.9 ms. The rebuild
also writes ``mtcnn_pnet_stride4.onnx``: P-Net with its last convolution at stride 2, whose cells are exactly every
other cell of P-Net's (checked bit for bit); the detector runs it on the largest pyramid level only. To rebuild
the committed files (only ``onnx`` and ``onnxruntime`` needed)::

    .venv-export/bin/python local/tools/export_faces.py --rebuild-only
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import MODEL_DIR, sha256_file

OPSET = 17
PACKAGE = "facenet-pytorch"
VERSION = "2.6.0"
PROVENANCE = MODEL_DIR / "FACES_PROVENANCE.json"
NETS = {
    # name: (input size or None for fully convolutional, output names)
    "pnet": (None, ("regression", "face_probability")),
    "rnet": (24, ("regression", "face_probability")),
    "onet": (48, ("regression", "landmarks", "face_probability")),
}


def _import_mtcnn() -> types.ModuleType:
    """facenet_pytorch.models.mtcnn without running the package ``__init__`` (requests, torchvision)."""
    import importlib.util

    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{PACKAGE}=={VERSION} is not installed: pip install --no-deps {PACKAGE}=={VERSION}")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (
        ("facenet_pytorch", root),
        ("facenet_pytorch.models", root / "models"),
        ("facenet_pytorch.models.utils", root / "models" / "utils"),
    ):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module
    stub = types.ModuleType("facenet_pytorch.models.utils.detect_face")
    stub.detect_face = stub.extract_face = None  # type: ignore[attr-defined]
    sys.modules[stub.__name__] = stub
    mtcnn_spec = importlib.util.spec_from_file_location("facenet_pytorch.models.mtcnn", root / "models" / "mtcnn.py")
    if mtcnn_spec is None or mtcnn_spec.loader is None:
        raise SystemExit(f"cannot load {root / 'models' / 'mtcnn.py'}")
    module = importlib.util.module_from_spec(mtcnn_spec)
    mtcnn_spec.loader.exec_module(module)
    return module


def fast_prelu(model: Any) -> int:
    """Replace every ``PRelu`` of ``model`` (an ``onnx.ModelProto``, in place) by the bit-identical form above.

    Returns how many were replaced."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    slopes = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes: list[Any] = []
    replaced = 0
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in slopes:
            nodes.append(node)
            continue
        z, slope_name = node.input
        (y,) = node.output
        slope = slopes[slope_name].astype(np.float32)
        tag = (node.name or y).strip("/").replace("/", "_")
        zero = f"{tag}_zero"
        if slope.ndim == 3 and slope.shape[1:] == (1, 1):  # (C, 1, 1): an NCHW image tensor
            channels = slope.shape[0]
            graph.initializer.extend(
                [
                    numpy_helper.from_array(-np.ones((channels, 1, 1, 1), np.float32), f"{tag}_minus_one"),
                    numpy_helper.from_array(-slope.reshape(channels, 1, 1, 1), f"{tag}_minus_slope"),
                ]
            )
            nodes += [
                helper.make_node("Relu", [z], [f"{tag}_pos"], name=f"{tag}_pos"),
                helper.make_node(
                    "Conv",
                    [z, f"{tag}_minus_one"],
                    [f"{tag}_negated"],
                    name=f"{tag}_negate",
                    group=channels,
                    kernel_shape=[1, 1],
                ),
                helper.make_node("Relu", [f"{tag}_negated"], [f"{tag}_neg"], name=f"{tag}_neg"),
                helper.make_node(
                    "Conv",
                    [f"{tag}_neg", f"{tag}_minus_slope"],
                    [f"{tag}_scaled"],
                    name=f"{tag}_scale",
                    group=channels,
                    kernel_shape=[1, 1],
                ),
                helper.make_node("Add", [f"{tag}_scaled", f"{tag}_pos"], [y], name=f"{tag}_add"),
            ]
        else:  # a flat (N, C) tensor after a dense layer
            graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
            nodes += [
                helper.make_node("Relu", [z], [f"{tag}_pos"], name=f"{tag}_pos"),
                helper.make_node("Min", [z, zero], [f"{tag}_min"], name=f"{tag}_min"),
                helper.make_node("Mul", [f"{tag}_min", slope_name], [f"{tag}_scaled"], name=f"{tag}_scale"),
                helper.make_node("Add", [f"{tag}_pos", f"{tag}_scaled"], [y], name=f"{tag}_add"),
            ]
        replaced += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    return replaced


def sigmoid_probability(model: Any) -> bool:
    """P-Net's two-class ``Softmax`` -> ``Sigmoid`` of the logit differences (in place); True if rewritten.

    softmax(l0, l1) = (sigmoid(l0 - l1), sigmoid(l1 - l0)), so the final 1x1 convolution's weights and bias are
    replaced by their differences and the softmax (about a tenth of P-Net's time: it runs over every cell of every
    pyramid level) by an element-wise sigmoid. The same figures to within float32 rounding (< 1e-6), not bit for
    bit, so R-Net and O-Net, whose softmax is over one row per crop and costs nothing, keep theirs.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    for i, node in enumerate(graph.node):
        if node.op_type != "Softmax":
            continue
        conv = producers[node.input[0]]
        if conv.op_type != "Conv" or len(conv.input) != 3:
            return False
        weight = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
        bias = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float32)
        if weight.shape[0] != 2:
            return False
        dw, db = weight[0] - weight[1], bias[0] - bias[1]
        inits[conv.input[1]].CopyFrom(numpy_helper.from_array(np.stack([dw, -dw]), conv.input[1]))
        inits[conv.input[2]].CopyFrom(numpy_helper.from_array(np.array([db, -db], np.float32), conv.input[2]))
        graph.node.remove(node)
        sigmoid = helper.make_node("Sigmoid", list(node.input), list(node.output), name=f"{node.name}_sigmoid")
        graph.node.insert(i, sigmoid)
        return True
    return False


def _check_input(size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None:
        return rng.uniform(-1, 1, (1, 3, 97, 131)).astype(np.float32)
    return rng.uniform(-1, 1, (7, 3, size, size)).astype(np.float32)


def rewrite(path: Path, rng: np.random.Generator, size: int | None) -> dict[str, object]:
    """Apply :func:`fast_prelu` to ``path`` in place; raise unless ONNX Runtime gives bit-identical outputs."""
    import onnx
    import onnxruntime as ort

    before = path.read_bytes()
    model = onnx.load_from_string(before)
    replaced = fast_prelu(model)
    exact = model.SerializeToString()
    sigmoid = size is None and sigmoid_probability(model)  # P-Net only
    onnx.checker.check_model(model)
    after = model.SerializeToString()
    plain = ort.InferenceSession(before, providers=["CPUExecutionProvider"])
    fast = ort.InferenceSession(exact, providers=["CPUExecutionProvider"])
    final = ort.InferenceSession(after, providers=["CPUExecutionProvider"])
    max_diff = 0.0
    # the runtime's inputs: P-Net on pyramid levels of many sizes, R-Net and O-Net on batches of any length
    checks = [_check_input(size, rng)]
    if size is None:
        checks += [rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32) for h, w in ((188, 251), (12, 12), (17, 23))]
    else:
        checks += [rng.uniform(-1, 1, (n, 3, size, size)).astype(np.float32) for n in (1, 48)]
    for check in checks:
        expected = plain.run(None, {"input": check})
        got = fast.run(None, {"input": check})
        if not all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True)):
            raise SystemExit(f"{path.name}: the PRelu rewrite's outputs differ from the plain export's")
        got = final.run(None, {"input": check})
        max_diff = max(max_diff, *(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True)))
    if max_diff > 1e-5:
        raise SystemExit(f"{path.name}: the sigmoid rewrite differs from the plain export by {max_diff}")
    path.write_bytes(after)
    print(
        f"{path.name}: {replaced} PRelu rewritten (bit-identical on {len(checks)} inputs)"
        + (f", softmax -> sigmoid (max |diff| {max_diff:.1e})" if sigmoid else "")
        + f"; {len(after)} bytes"
    )
    return {
        "prelu_rewritten": replaced,
        "prelu_bit_identical_inputs": [list(c.shape) for c in checks],
        "softmax_to_sigmoid": sigmoid,
        "max_abs_diff_vs_plain_export": max_diff,
        "plain_export_sha256": hashlib.sha256(before).hexdigest(),
    }


def rewrite_only() -> int:
    """Rewrite the committed (plain) exports in place and update their entries in the provenance."""
    provenance = json.loads(PROVENANCE.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    for name, (size, _outputs) in NETS.items():
        path = MODEL_DIR / f"mtcnn_{name}.onnx"
        entry = provenance["files"][path.name]
        if entry.get("speed_rewrite"):
            print(f"{path.name}: already rewritten")
            continue
        entry["speed_rewrite"] = rewrite(path, rng, size)
        # torch is not rerun here: the plain export's difference plus the rewrite's bounds the shipped file's
        entry["max_abs_diff_vs_torch"] += entry["speed_rewrite"]["max_abs_diff_vs_plain_export"]
        entry["sha256"] = sha256_file(path)
        entry["bytes"] = path.stat().st_size
    provenance["export"]["speed_rewrite"] = SPEED_REWRITE
    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {PROVENANCE}")
    return 0


# ------------------------------------------------------------------------------------------------ graph rebuild

REBUILD = (
    "local/tools/export_faces.py: rebuild (the same weights in hand-built graphs: PReLU as z + (1 - a) * Relu(-z), "
    "two fused NCHWc nodes; P-Net's two heads as one 1x1 convolution giving the face logit and the box offsets; "
    "R-Net's first convolution padded with zero channels from 28 to 32 so that the whole net stays in ONNX Runtime's "
    "blocked layout; the dense layers' columns permuted so that no Transpose runs before them); outputs within float32 "
    "rounding of the previous files, checked with onnxruntime"
)
STRIDE4 = "mtcnn_pnet_stride4.onnx"  # P-Net with its last convolution at stride 2: for the largest pyramid level
# the weights of each network, in facenet-pytorch's names: conv layers (kernel, pool after it), dense layers, heads
LAYOUT: dict[str, dict[str, Any]] = {
    "pnet": {"convs": (("conv1", 2), ("conv2", None), ("conv3", None)), "pool_kernel": {"conv1": 2}},
    "rnet": {
        "convs": (("conv1", 3), ("conv2", 3), ("conv3", None)),
        "dense": "dense4",
        "heads": (("regression", "dense5_2", False), ("face_probability", "dense5_1", True)),
        "pad": {"conv1": 32},
    },
    "onet": {
        "convs": (("conv1", 3), ("conv2", 3), ("conv3", 2), ("conv4", None)),
        "dense": "dense5",
        "heads": (
            ("regression", "dense6_2", False),
            ("landmarks", "dense6_3", False),
            ("face_probability", "dense6_1", True),
        ),
        "pad": {},
    },
}


def weights_from_onnx(model: Any) -> dict[str, np.ndarray]:
    """facenet-pytorch-named weights (``conv1.weight``, ``prelu1.weight`` as a flat slope, ...) from an exported
    graph, plain or rewritten by :func:`fast_prelu` / :func:`sigmoid_probability` (P-Net's face head is then returned
    in its softmax form: row 0 zero, row 1 the face logit, which gives the same probabilities)."""
    from onnx import numpy_helper

    inits = {init.name: numpy_helper.to_array(init).astype(np.float32) for init in model.graph.initializer}
    out = {name: value for name, value in inits.items() if "." in name and "PRelu" not in name}
    prelus = [n for n in model.graph.node if n.op_type == "PRelu"]
    for node in prelus:  # plain export: the slope initializer of the i-th PRelu
        index = len([k for k in out if k.startswith("prelu")]) + 1
        out[f"prelu{index}.weight"] = inits[node.input[1]].reshape(-1)
    for name, value in inits.items():  # rewritten: -a of an image PReLU
        if name.endswith("_PRelu_minus_slope"):
            out[name.split("_PRelu")[0] + ".weight"] = -value.reshape(-1)
    for name in [k for k in out if k.startswith("prelu")]:
        out[name] = out[name].reshape(-1)
    if not any(n.op_type == "Softmax" for n in model.graph.node) and "conv4_1.weight" in out:
        # sigmoid form: rows (dw, -dw) with dw = w0 - w1; softmax of (0, w1 - w0) gives the same probability
        w, b = out["conv4_1.weight"], out["conv4_1.bias"]
        out["conv4_1.weight"] = np.stack([np.zeros_like(w[1]), w[1]])
        out["conv4_1.bias"] = np.array([0.0, b[1]], np.float32)
    return out


class _Graph:
    """A small builder for the rebuilt graphs."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        self.count += 1
        out = out or f"t{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type.lower()}{self.count}", **attrs))
        return out

    def conv(
        self, x: str, name: str, weight: np.ndarray, bias: np.ndarray, out: str | None = None, **attrs: Any
    ) -> str:
        w = self.const(f"{name}.w", weight)
        b = self.const(f"{name}.b", bias)
        return self.op("Conv", [x, w, b], out, kernel_shape=list(weight.shape[2:]), **attrs)

    def prelu_image(self, z: str, name: str, slope: np.ndarray) -> str:
        """PReLU(z) = z + (1 - a) * Relu(-z) on an NCHW tensor: a negating 1x1 depthwise convolution fused with
        its Relu, and a scaling one fused with the sum (both kept in ONNX Runtime's blocked layout)."""
        c = slope.size
        zeros = np.zeros(c, np.float32)
        neg = self.op("Relu", [self.conv(z, f"{name}.negate", -np.ones((c, 1, 1, 1), np.float32), zeros, group=c)])
        scaled = self.conv(neg, f"{name}.scale", (1.0 - slope).reshape(c, 1, 1, 1), zeros, group=c)
        return self.op("Add", [scaled, z])

    def conv_prelu_pool(self, x: str, name: str, w: dict[str, np.ndarray], pool: int) -> str:
        """``MaxPool(PReLU(Conv(x)))`` with the PReLU after the pooling, on a quarter of the elements.

        Exact: for a channel whose slope a >= 0, PReLU is non-decreasing, so it commutes with the max. For a < 0,
        PReLU(z) = max(Relu(z), -a * Relu(-z)) (one term is always 0), so the max over a window is
        max(Relu(max z), -a * Relu(max -z)) = r + Relu(-a * r' - r) with r = Relu(max z), r' = Relu(max -z): the
        convolution also gives -z for those channels (10 + 6 = 16 channels in P-Net, one block of the layout), and
        everything after the pooling is 1x1 convolutions fused with their Relu or sum. The zero-padded channels
        are sliced off before the next convolution."""
        weight, bias, slope = w[f"{name}.weight"], w[f"{name}.bias"], w[f"prelu{name.removeprefix('conv')}.weight"]
        channels = weight.shape[0]
        neg, mono = np.flatnonzero(slope < 0), np.flatnonzero(slope >= 0)
        width = 16 * -(-(channels + neg.size) // 16)
        mirrored = channels + np.arange(neg.size)  # the -z channel of each negative-slope channel
        wx = np.zeros((width, *weight.shape[1:]), np.float32)
        bx = np.zeros(width, np.float32)
        wx[:channels], bx[:channels] = weight, bias
        wx[mirrored], bx[mirrored] = -weight[neg], -bias[neg]
        zeros = np.zeros(width, np.float32)
        pooled = self.op(
            "MaxPool", [self.conv(x, name, wx, bx)], kernel_shape=[pool, pool], strides=[2, 2], ceil_mode=1
        )

        def diagonal(values: np.ndarray) -> np.ndarray:
            return values.astype(np.float32).reshape(width, 1, 1, 1)

        sign = np.ones(width, np.float32)
        sign[mono] = -1.0  # relu(-p) for the monotone channels, relu(p) for the others (r and r')
        relus = self.op("Relu", [self.conv(pooled, f"{name}.relus", diagonal(sign), zeros, group=width)])
        mix = np.zeros((width, width, 1, 1), np.float32)
        mix[neg, mirrored, 0, 0] = -slope[neg]
        mix[neg, neg, 0, 0] = -1.0
        extra = self.op("Relu", [self.conv(relus, f"{name}.max", mix, zeros)])  # relu(-a r' - r)
        keep = np.zeros(width, np.float32)
        keep[mono] = 1.0 - slope[mono]
        keep[neg] = 1.0
        partial = self.op("Add", [self.conv(relus, f"{name}.keep", diagonal(keep), zeros, group=width), extra])
        identity = np.zeros(width, np.float32)
        identity[mono] = 1.0  # p + (1 - a) relu(-p) = PReLU(p) for the monotone channels
        out = self.op("Add", [self.conv(pooled, f"{name}.identity", diagonal(identity), zeros, group=width), partial])
        ints = {k: self.int_const(f"{name}.slice_{k}", v) for k, v in (("start", 0), ("end", channels), ("axis", 1))}
        return self.op("Slice", [out, ints["start"], ints["end"], ints["axis"]])

    def int_const(self, name: str, value: int) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.array([value], np.int64), name))
        return name

    def prelu_flat(self, z: str, name: str, slope: np.ndarray) -> str:
        neg = self.op("Relu", [self.op("Neg", [z])])
        return self.op("Add", [z, self.op("Mul", [neg, self.const(f"{name}.one_minus_slope", 1.0 - slope)])])

    def model(self, inputs: list[Any], outputs: list[Any]) -> Any:
        import onnx
        from onnx import helper

        graph = helper.make_graph(self.nodes, "mtcnn", inputs, outputs, self.inits)
        opsets = [helper.make_opsetid("", OPSET)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name=Path(__file__).name)
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _padded(w: dict[str, np.ndarray], conv: str, following: str, channels: int) -> dict[str, np.ndarray]:
    """Zero output channels appended to ``conv`` (slope 0: they stay 0) and matching zero inputs to ``following``."""
    extra = channels - w[f"{conv}.weight"].shape[0]
    if extra <= 0:
        return w
    w = dict(w)
    index = conv.removeprefix("conv")
    weight, nxt = w[f"{conv}.weight"], w[f"{following}.weight"]
    w[f"{conv}.weight"] = np.concatenate([weight, np.zeros((extra, *weight.shape[1:]), np.float32)])
    w[f"{conv}.bias"] = np.concatenate([w[f"{conv}.bias"], np.zeros(extra, np.float32)])
    w[f"prelu{index}.weight"] = np.concatenate([w[f"prelu{index}.weight"], np.zeros(extra, np.float32)])
    w[f"{following}.weight"] = np.concatenate([nxt, np.zeros((nxt.shape[0], extra, *nxt.shape[2:]), np.float32)], 1)
    return w


def build(net: str, w: dict[str, np.ndarray], *, last_stride: int = 1) -> Any:
    """The fast graph of ``net`` from its weights (:func:`weights_from_onnx` or the torch state dict as numpy).

    P-Net: input NCHW float32 (x - 127.5) / 128 of any size; one output ``logit_regression`` (1, 5, h, w): channel 0
    the face logit (probability = sigmoid of it), channels 1-4 the box offsets. R-Net and O-Net: inputs and outputs
    as exported (``regression``, [``landmarks``,] ``face_probability``).

    ``last_stride`` 2 (P-Net only) gives :data:`STRIDE4`: P-Net's last convolution at stride 2, so its cells are
    every other cell of P-Net's, exactly (the same windows, a quarter of them: cell (x, y) is P-Net's (2x, 2y)).
    """
    from onnx import TensorProto, helper

    spec = LAYOUT[net]
    g = _Graph()
    convs = spec["convs"]
    for i, (conv, _pool) in enumerate(convs[:-1]):
        w = _padded(w, conv, convs[i + 1][0], spec.get("pad", {}).get(conv, 0))
    z = "input"
    for conv, pool in convs:
        index = conv.removeprefix("conv")
        if net == "pnet" and pool:  # the full-resolution PReLU is P-Net's costliest element-wise pass
            z = g.conv_prelu_pool(z, conv, w, pool)
            continue
        strides = [last_stride] * 2 if conv == convs[-1][0] else [1, 1]
        z = g.conv(z, conv, w[f"{conv}.weight"], w[f"{conv}.bias"], strides=strides)
        z = g.prelu_image(z, f"prelu{index}", w[f"prelu{index}.weight"])
        if pool:
            z = g.op("MaxPool", [z], kernel_shape=[pool, pool], strides=[2, 2], ceil_mode=1)
    if net == "pnet":
        face, offsets = w["conv4_1.weight"], w["conv4_2.weight"]
        weight = np.concatenate([face[1:2] - face[0:1], offsets])
        bias = np.concatenate([w["conv4_1.bias"][1:2] - w["conv4_1.bias"][0:1], w["conv4_2.bias"]])
        g.conv(z, "conv4", weight, bias, out="logit_regression")
        return g.model(
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
            [helper.make_tensor_value_info("logit_regression", TensorProto.FLOAT, [1, 5, "cells_y", "cells_x"])],
        )
    # torch flattens the last feature map as (W, H, C) (it transposes first): permute the dense columns to NCHW order
    dense = w[f"{spec['dense']}.weight"]
    channels = w[f"{convs[-1][0]}.weight"].shape[0]
    side = round((dense.shape[1] // channels) ** 0.5)
    columns = dense.reshape(dense.shape[0], side, side, channels).transpose(0, 3, 2, 1).reshape(dense.shape[0], -1)
    z = g.op("Flatten", [z], axis=1)
    z = g.op("Gemm", [z, g.const("dense.w", columns), g.const("dense.b", w[f"{spec['dense']}.bias"])], transB=1)
    z = g.prelu_flat(z, "prelu_dense", w[f"prelu{len(convs) + 1}.weight"])
    size = 24 if net == "rnet" else 48
    outputs = []
    for out, layer, softmax in spec["heads"]:
        head = g.const(f"{layer}.w", w[f"{layer}.weight"]), g.const(f"{layer}.b", w[f"{layer}.bias"])
        y = g.op("Gemm", [z, *head], None if softmax else out, transB=1)
        if softmax:
            g.op("Softmax", [y], out, axis=1)
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", w[f"{layer}.weight"].shape[0]]))
    return g.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])], outputs)


def _as_previous(net: str, outputs: list[np.ndarray]) -> list[np.ndarray]:
    """Rebuilt P-Net outputs in the previous files' form (regression, face probabilities of both classes)."""
    if net != "pnet":
        return outputs
    (out,) = outputs
    face = 1.0 / (1.0 + np.exp(-out[:, :1].astype(np.float64)))
    return [out[:, 1:], np.concatenate([1.0 - face, face], axis=1).astype(np.float32)]


def rebuild(path: Path, rng: np.random.Generator, size: int | None) -> dict[str, object]:
    """Replace ``path`` by :func:`build` of its own weights; raise unless ONNX Runtime agrees within 1e-5."""
    import onnx
    import onnxruntime as ort

    net = path.stem.removeprefix("mtcnn_")
    before = path.read_bytes()
    model = build(net, weights_from_onnx(onnx.load_from_string(before)))
    after = model.SerializeToString()
    old = ort.InferenceSession(before, providers=["CPUExecutionProvider"])
    new = ort.InferenceSession(after, providers=["CPUExecutionProvider"])
    checks = [_check_input(size, rng)]
    if size is None:
        checks += [rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32) for h, w in ((188, 250), (12, 12), (17, 23))]
    else:
        checks += [rng.uniform(-1, 1, (n, 3, size, size)).astype(np.float32) for n in (1, 48)]
    max_diff = 0.0
    for check in checks:
        expected = old.run(None, {"input": check})
        got = _as_previous(net, new.run(None, {"input": check}))
        max_diff = max(max_diff, *(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True)))
    if max_diff > 1e-5:
        raise SystemExit(f"{path.name}: the rebuilt graph differs from the previous one by {max_diff}")
    path.write_bytes(after)
    print(f"{path.name}: rebuilt, max |diff| {max_diff:.1e} on {len(checks)} inputs; {len(after)} bytes")
    info: dict[str, object] = {
        "max_abs_diff_vs_previous": max_diff,
        "checked_inputs": [list(c.shape) for c in checks],
        "previous_sha256": hashlib.sha256(before).hexdigest(),
        "outputs": [o.name for o in model.graph.output],
    }
    if net == "pnet":
        info["stride4"] = _stride4(path, new, weights_from_onnx(onnx.load_from_string(before)), checks)
    return info


def _stride4(pnet: Path, session: Any, w: dict[str, np.ndarray], checks: list[np.ndarray]) -> dict[str, object]:
    """Write :data:`STRIDE4` next to the rebuilt ``pnet``; raise unless its cells are exactly every other cell."""
    import onnxruntime as ort

    out = pnet.with_name(STRIDE4)
    data = build("pnet", w, last_stride=2).SerializeToString()
    sparse = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for check in checks:
        (full,) = session.run(None, {"input": check})
        (cells,) = sparse.run(None, {"input": check})
        if not np.array_equal(full[:, :, ::2, ::2], cells):
            raise SystemExit(f"{STRIDE4}: its cells are not every other cell of {pnet.name}'s")
    out.write_bytes(data)
    print(f"{out.name}: P-Net at stride 4, every other cell of {pnet.name} exactly; {len(data)} bytes")
    return {
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "weights": f"as {pnet.name}",
        "input": f"as {pnet.name}",
        "outputs": ["logit_regression"],
        "derived_from": f"{pnet.name}, its last convolution at stride 2 (cell (x, y) = its (2x, 2y))",
        "checked_inputs": [list(c.shape) for c in checks],
    }


def rebuild_only() -> int:
    """Rebuild the committed files in place (from their own weights) and update the provenance."""
    provenance = json.loads(PROVENANCE.read_text(encoding="utf-8"))
    rng = np.random.default_rng(0)
    for name, (size, _outputs) in NETS.items():
        path = MODEL_DIR / f"mtcnn_{name}.onnx"
        entry = provenance["files"][path.name]
        if entry.get("rebuild"):
            print(f"{path.name}: already rebuilt")
            continue
        entry["rebuild"] = rebuild(path, rng, size)
        if "stride4" in entry["rebuild"]:
            stride4 = entry["rebuild"].pop("stride4")
            provenance["files"][STRIDE4] = {**stride4, "max_abs_diff_vs_torch": 0.0}
        entry["max_abs_diff_vs_torch"] += entry["rebuild"]["max_abs_diff_vs_previous"]
        entry["outputs"] = entry["rebuild"]["outputs"]
        entry["sha256"] = sha256_file(path)
        entry["bytes"] = path.stat().st_size
    provenance["export"]["rebuild"] = REBUILD
    if STRIDE4 in provenance["files"]:  # the same weights and windows as P-Net: its difference from torch is P-Net's
        provenance["files"][STRIDE4]["max_abs_diff_vs_torch"] = provenance["files"]["mtcnn_pnet.onnx"][
            "max_abs_diff_vs_torch"
        ]
    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {PROVENANCE}")
    return 0


SPEED_REWRITE = (
    "local/tools/export_faces.py: fast_prelu (PRelu -> Relu(z) + 1x1 depthwise Conv(Relu(-z), -a), outputs "
    "bit-identical, checked with onnxruntime) and, in P-Net, sigmoid_probability (softmax of 2 -> sigmoid of the "
    "logit differences, within float32 rounding)"
)


def main() -> int:
    if "--rewrite-only" in sys.argv[1:]:
        return rewrite_only()
    if "--rebuild-only" in sys.argv[1:]:
        return rebuild_only()
    import onnxruntime as ort
    import torch

    mtcnn = _import_mtcnn()
    data_dir = Path(str(mtcnn.__file__)).resolve().parent.parent / "data"
    rng = np.random.default_rng(0)
    files: dict[str, dict[str, object]] = {}
    for name, (size, outputs) in NETS.items():
        net = getattr(mtcnn, name[0].upper() + "Net")(pretrained=False)
        weights = data_dir / f"{name}.pt"
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        net.eval()
        # ONNX outputs in the order the detector reads them; torch returns (reg, prob) / (reg, landmarks, prob).
        if size is None:
            example = torch.zeros(1, 3, 64, 80)
            axes = {"input": {2: "height", 3: "width"}}
        else:
            example = torch.zeros(2, 3, size, size)
            axes = {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
        check = _check_input(size, rng)
        out = MODEL_DIR / f"mtcnn_{name}.onnx"
        torch.onnx.export(
            net,
            (example,),
            str(out),
            input_names=["input"],
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        with torch.no_grad():
            expected = [t.numpy() for t in net(torch.from_numpy(check))]
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": check})
        diff = max(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True))
        print(f"{out.name}: {out.stat().st_size} bytes, max |torch - onnxruntime| = {diff:.2e}")
        if diff > 1e-4:
            raise SystemExit(f"{name}: ONNX output differs from torch by {diff}")
        speed_rewrite = rewrite(out, rng, size)
        rebuilt = rebuild(out, rng, size)
        got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": check})
        got = _as_previous(name, got)
        diff = max(diff, *(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True)))
        files[out.name] = {
            "sha256": sha256_file(out),
            "bytes": out.stat().st_size,
            "weights": f"facenet_pytorch/data/{weights.name}",
            "weights_sha256": sha256_file(weights),
            "input": "NCHW float32, RGB, (x - 127.5) / 128" + ("" if size is None else f", {size}x{size}"),
            "outputs": rebuilt["outputs"],
            "max_abs_diff_vs_torch": diff,
            "speed_rewrite": speed_rewrite,
            "rebuild": rebuilt,
        }
        if "stride4" in rebuilt:
            files[STRIDE4] = {**rebuilt.pop("stride4"), "max_abs_diff_vs_torch": diff}  # type: ignore[dict-item]
    provenance = {
        "model": "MTCNN (Zhang, Zhang, Li, Qiao 2016: Joint Face Detection and Alignment using Multi-task Cascaded "
        "Convolutional Networks)",
        "task": "face detection: P-Net proposals over an image pyramid, R-Net refinement, O-Net boxes + landmarks",
        "license": "MIT (facenet-pytorch); see layers/model/NOTICE",
        "source": {
            "package": PACKAGE,
            "version": metadata.version(PACKAGE),
            "installed_with": f"pip install --no-deps {PACKAGE}=={VERSION}",
            "origin": "PyTorch port by Tim Esler of the MTCNN Caffe weights (kpzhang93/MTCNN_face_detection_alignment) "
            "as converted in davidsandberg/facenet",
        },
        "export": {
            "tool": "local/tools/export_faces.py",
            "exporter": "torch.onnx.export (TorchScript exporter, dynamo=False)",
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "opset": OPSET,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "speed_rewrite": SPEED_REWRITE,
            "rebuild": REBUILD,
        },
        "runtime": "photosort.faces: image pyramid, box regression and NMS in numpy; onnxruntime only",
        "files": files,
    }
    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {PROVENANCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
