"""Tests for MiniLM's per-token int8 graph rewrite and the length-bucketed batching of the text encoders."""

from __future__ import annotations

import math

import numpy as np
import pytest

from socialfusion.encoders._text_models import length_buckets

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from socialfusion.encoders._onnx_int8 import cpu_session, per_token_int8_graph  # noqa: E402

K, N = 6, 5
RNG = np.random.default_rng(0)
WEIGHTS = RNG.integers(-127, 128, (K, N)).astype(np.int8)
COLUMN_SCALES = RNG.uniform(0.001, 0.01, (1, N)).astype(np.float32)
BIAS = RNG.normal(size=N).astype(np.float32)


def small_int8_graph(path) -> None:
    """x (batch, tokens, K) -> x @ (Cast(W_q) * W_scale) + bias -> exact erf GELU, spelled as the exporter does."""
    nodes = [
        helper.make_node("Cast", ["w_q"], ["w_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["w_f", "w_scale"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["linear"]),
        helper.make_node("Div", ["linear", "sqrt2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "half"], ["halved"]),
        helper.make_node("Mul", ["linear", "halved"], ["y"]),
    ]
    initializers = [
        numpy_helper.from_array(value, name)
        for name, value in [
            ("w_q", WEIGHTS),
            ("w_scale", COLUMN_SCALES),
            ("bias", BIAS),
            ("sqrt2", np.array(math.sqrt(2), np.float32)),
            ("one", np.array(1, np.float32)),
            ("half", np.array(0.5, np.float32)),
        ]
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", N])],
        initializers,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def expected(x: np.ndarray) -> np.ndarray:
    """The rewrite's arithmetic in NumPy: each token row quantised with its own scale max|x| / 127."""
    scales = np.maximum(np.abs(x).max(axis=-1, keepdims=True), 1e-30) / 127
    rows = np.clip(np.round(x / scales), -127, 127)  # round half to even, as QuantizeLinear
    linear = (rows @ WEIGHTS.astype(np.float64)) * COLUMN_SCALES[0] * scales + BIAS
    return linear * 0.5 * (1 + np.vectorize(math.erf)(linear / math.sqrt(2)))


def test_length_buckets_hold_every_index_once_shortest_first():
    lengths = [9, 2, 5, 2, 7, 1, 5]
    batches = length_buckets(lengths, 3)
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert [[lengths[i] for i in batch] for batch in batches] == [[1, 2, 2], [5, 5, 7], [9]]
    assert batches[0].tolist() == [5, 1, 3]  # stable: equal lengths keep their input order


def test_rewrite_computes_integer_products_with_one_scale_per_token(tmp_path):
    small_int8_graph(tmp_path / "small.onnx")
    rewritten = onnx.load_from_string(per_token_int8_graph(tmp_path / "small.onnx"))
    operators = [node.op_type for node in rewritten.graph.node]
    assert "MatMulInteger" in operators and "Gelu" in operators
    assert "MatMul" not in operators and "Erf" not in operators
    assert "w_f" not in {initializer.name for initializer in rewritten.graph.initializer}

    session = cpu_session(rewritten.SerializeToString(), num_threads=1)
    x = RNG.normal(size=(3, 4, K)).astype(np.float32)
    x[1, 2] *= 1000  # one loud token: with a per-batch scale it would flatten every other row
    x[2, 3] = 0.0  # an all-zero row (padding-like): no division by zero
    (y,) = session.run(["y"], {"x": x})
    np.testing.assert_allclose(y, expected(x.astype(np.float64)), rtol=1e-4, atol=1e-5)
    assert np.isfinite(y).all()


def test_rewrite_gives_a_row_the_same_output_alone_and_in_any_batch(tmp_path):
    small_int8_graph(tmp_path / "small.onnx")
    session = cpu_session(per_token_int8_graph(tmp_path / "small.onnx"), num_threads=1)
    batch = RNG.normal(size=(5, 3, K)).astype(np.float32) * RNG.uniform(0.1, 50, (5, 1, 1)).astype(np.float32)
    (together,) = session.run(["y"], {"x": batch})
    for row in range(len(batch)):
        (alone,) = session.run(["y"], {"x": batch[row : row + 1]})
        np.testing.assert_array_equal(alone[0], together[row])


def test_rewrite_refuses_a_graph_without_int8_weight_matrices(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match="no MatMul reads an int8 weight matrix"):
        per_token_int8_graph(tmp_path / "plain.onnx")


SENTENCES = [
    "lol that game last night was wild 😂😂",
    "The central bank raised interest rates by a quarter point on Wednesday.",
    "ugh, monday again",
    "We're hiring! Join our team of data engineers #jobs @user",
    "After a long day of meetings about the quarterly budget, the team finally agreed on a plan to cut costs "
    "without laying anyone off, which everyone celebrated with pizza.",
    "ok",
    "Thank you all for the birthday wishes ❤️",
]


@pytest.mark.slow
def test_minilm_int8_vector_does_not_depend_on_its_batch_or_the_input_order():
    from socialfusion.encoders import get_encoder

    encoder = get_encoder("text/minilm-int8")
    alone = np.concatenate([encoder.encode([sentence]).vectors for sentence in SENTENCES])
    for batch_size in (2, 3, 64):
        batched = encoder.encode(SENTENCES, batch_size=batch_size).vectors
        assert np.sum(alone * batched, axis=1).min() >= 0.9999
    reversed_order = encoder.encode(SENTENCES[::-1], batch_size=3).vectors[::-1]
    assert np.sum(alone * reversed_order, axis=1).min() >= 0.9999
    encoder.chunk_texts = 2  # several tokenizer chunks: the same vectors, in the same order
    np.testing.assert_allclose(encoder.encode(SENTENCES, batch_size=3).vectors, alone, atol=1e-4)
