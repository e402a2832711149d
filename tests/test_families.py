"""Every model family through the one engine interface, on randomly initialised models.

Each family's smallest configuration is built once per session with a fixed seed, saved as a
checkpoint file and loaded through ``SamEngine.load(checkpoint=...)`` exactly as a user's file is.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from uosam_core import weights
from uosam_core.config import GroConfig, LroConfig, RefineConfig
from uosam_core.embedding_cache import EmbeddingCache
from uosam_core.engine import Prompts, SamEngine
from uosam_core.lcm import lcm_grids
from uosam_core.models import Family, build_model, infer_model_type, load_model
from uosam_core.models.registry import StateDictError
from uosam_core.pipeline import Refiner

SMALLEST = {"vit_b": Family.SAM, "vit_t": Family.MOBILE_SAM, "sam2.1_hiera_t": Family.SAM2,
            "hq_vit_tiny": Family.HQ_SAM}
EXTRAS = {  # the family's encoder outputs besides the 1x256x64x64 embedding
    "vit_b": {}, "vit_t": {},
    "sam2.1_hiera_t": {"high_res_0": (1, 32, 256, 256), "high_res_1": (1, 64, 128, 128)},
    "hq_vit_tiny": {"interm_embed": (1, 64, 64, 160)},
}
# Random weights give no confident masks: let every GRO mask through so the vote runs. Few prompts and
# the demo's 3 largest objects keep the decoder work small.
PERMISSIVE = RefineConfig(lro=LroConfig(min_object_area=20_000),
                          gro=replace(GroConfig(), pred_iou_thresh=-1e9, stability_score_thresh=-1.0, max_prompts=6,
                                      min_vote_share=0.0, max_mask_fraction=1.0))


def save_checkpoint(model: torch.nn.Module, model_type: str, path: Path) -> Path:
    """Save as the family's official files are: SAM 2 under "model", the others as a plain state dict."""
    state = model.state_dict()
    torch.save({"model": state} if model_type.startswith("sam2") else state, path)
    return path


@pytest.fixture(scope="session")
def random_checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("family-checkpoints")
    paths = {}
    for model_type in SMALLEST:
        torch.manual_seed(0)
        paths[model_type] = save_checkpoint(build_model(model_type), model_type, folder / f"{model_type}-random.pt")
    return paths


@pytest.fixture(scope="session")
def family_engines(random_checkpoints) -> dict[str, SamEngine]:
    torch.set_num_threads(2)
    return {model_type: SamEngine.load(checkpoint=path, device="cpu")
            for model_type, path in random_checkpoints.items()}


@pytest.fixture(scope="session")
def family_encodes(family_engines, demo_image):
    """Each family's embedding of the demo image, and how often the encoder paused while making it."""
    image, _, _ = demo_image
    encodes = {}
    for model_type, engine in family_engines.items():
        pauses = []
        with engine.pause_points(lambda pauses=pauses: pauses.append(1)):
            encodes[model_type] = (engine.encode(image), len(pauses))
    return encodes


@pytest.fixture(scope="session")
def family_embeddings(family_encodes):
    return {model_type: embedding for model_type, (embedding, _) in family_encodes.items()}


@pytest.mark.parametrize("model_type", SMALLEST)
def test_a_user_file_loads_as_its_family(model_type, family_engines, random_checkpoints):
    engine = family_engines[model_type]
    digest = weights.sha256_of(random_checkpoints[model_type])
    assert engine.model_type == model_type
    assert engine.family is SMALLEST[model_type]
    assert engine.checkpoint_sha256 == digest
    assert engine.model_id == f"{model_type}-{digest[:12]}"


@pytest.mark.parametrize("model_type", SMALLEST)
def test_encode_gives_the_family_features_and_geometry(model_type, family_engines, family_embeddings, demo_image):
    image, _, _ = demo_image
    embedding = family_embeddings[model_type]
    assert embedding.features.shape == (1, 256, 64, 64) and embedding.features.dtype == torch.float32
    assert {name: tuple(value.shape) for name, value in embedding.extras.items()} == EXTRAS[model_type]
    assert embedding.original_size == image.shape[:2]
    assert embedding.stride == 16 and embedding.encoder_size == 1024 and embedding.low_res_size == 256
    if SMALLEST[model_type] is Family.SAM2:
        assert embedding.input_size == (1024, 1024) and embedding.grid_size == (64, 64)  # stretched, no padding
    else:
        assert max(embedding.input_size) == 1024
        assert embedding.grid_size == tuple(-(-side // 16) for side in embedding.input_size)
    assert torch.isfinite(embedding.features).all()


@pytest.mark.parametrize("model_type", SMALLEST)
def test_the_encoder_pauses_before_every_block(model_type, family_engines, family_encodes):
    _, pauses = family_encodes[model_type]
    assert pauses == len(family_engines[model_type].adapter.encoder_blocks()) >= 12


@pytest.mark.parametrize("model_type", [name for name in SMALLEST if name != "vit_b"])  # vit_b: too slow to repeat
def test_encoding_again_is_identical_and_survives_a_disk_cache(model_type, family_engines, family_embeddings,
                                                              demo_image, tmp_path):
    image, _, _ = demo_image
    engine, first = family_engines[model_type], family_embeddings[model_type]
    again = SamEngine(engine.model, engine.model_type, engine.model_id, engine.device,
                      EmbeddingCache(disk_dir=tmp_path)).encode(image)
    reloaded_engine = SamEngine(engine.model, engine.model_type, engine.model_id, engine.device,
                                EmbeddingCache(disk_dir=tmp_path))
    reloaded = reloaded_engine.encode(image)
    assert reloaded_engine.encode_count == 0
    for embedding in (again, reloaded):
        assert torch.equal(embedding.features, first.features)
        assert embedding.extras.keys() == first.extras.keys()
        assert all(torch.equal(embedding.extras[name], value) for name, value in first.extras.items())


@pytest.mark.parametrize("model_type", SMALLEST)
def test_batched_decode_of_points_boxes_and_masks(model_type, family_engines, family_embeddings):
    engine, embedding = family_engines[model_type], family_embeddings[model_type]
    rng = np.random.default_rng(1)
    points = (rng.random((3, 2, 2)) * 300).astype(np.float32)
    labels = np.array([[1, 0], [1, -1], [0, 1]], np.int64)
    boxes = np.array([[10, 20, 200, 220]] * 3, np.float32) + np.arange(3, dtype=np.float32)[:, None]
    masks = torch.randn(3, 1, 256, 256, generator=torch.Generator().manual_seed(2))
    prompts = Prompts(points, labels, boxes, masks)
    multi = 1 if SMALLEST[model_type] is Family.HQ_SAM else 3
    decoded = engine.decode(embedding, prompts, multimask=True)
    assert decoded.low_res_logits.shape == (3, multi, 256, 256) and decoded.low_res_logits.dtype == torch.float32
    assert decoded.scores.shape == (3, multi) and torch.isfinite(decoded.low_res_logits).all()
    paused = []
    with engine.pause_points(lambda: paused.append(1), chunk=2):
        in_chunks = engine.decode(embedding, prompts, multimask=True)
    assert len(paused) == 2  # 3 prompts in chunks of 2
    assert torch.allclose(in_chunks.low_res_logits, decoded.low_res_logits, atol=1e-4)
    single = engine.decode(embedding, Prompts(boxes=boxes[:1]), multimask=False)
    assert single.low_res_logits.shape == (1, 1, 256, 256)
    assert engine.upscale(embedding, single.low_res_logits).shape == (1, 1, *embedding.original_size)


@pytest.mark.parametrize("model_type", SMALLEST)
def test_refiner_runs_lro_and_gro_end_to_end(model_type, family_engines, family_embeddings, demo_image):
    image, baseline, _ = demo_image
    refiner = Refiner(family_engines[model_type], PERMISSIVE)
    embedding = family_embeddings[model_type]
    first = refiner.refine(image, baseline, embedding=embedding)
    second = refiner.refine(image, baseline, embedding=embedding)
    assert first.labels.shape == baseline.shape and first.labels.dtype == np.int32
    assert np.array_equal(first.labels, second.labels)
    assert first.objects and first.gro is not None and first.gro.prompt_count > 0
    # the LCM is computed on this family's features
    expected = lcm_grids([first.objects[0].baseline], embedding)[0]
    assert first.objects[0].lcm_grid.values.shape == embedding.grid_size
    assert np.allclose(first.objects[0].lcm_grid.values, expected.values, atol=1e-5)
    assert np.isfinite(first.objects[0].lcm_grid.values).all()


def test_the_model_type_is_inferred_from_every_family_state_dict(random_checkpoints):
    for model_type, path in random_checkpoints.items():
        content = torch.load(path, map_location="cpu", weights_only=True)
        state = content["model"] if model_type.startswith("sam2") else content
        assert infer_model_type(state) == model_type
    torch.manual_seed(0)
    assert infer_model_type(build_model("sam2_hiera_t").state_dict()) == "sam2_hiera_t"  # SAM 2.0 vs 2.1
    assert infer_model_type(build_model("hq_vit_b").state_dict()) == "hq_vit_b"


def test_an_hq_checkpoint_is_never_loaded_as_plain_sam(random_checkpoints):
    hq_file = random_checkpoints["hq_vit_tiny"]
    with pytest.raises(weights.CheckpointError, match="holds a hq_vit_tiny model, not vit_t"):
        SamEngine.load(model_type="vit_t", checkpoint=hq_file, device="cpu")
    hq_state = torch.load(hq_file, map_location="cpu", weights_only=True)
    with pytest.raises(StateDictError, match=r"looks like MobileSAM.*unexpected keys \(mask_decoder\.hf_token"):
        load_model(hq_state, "vit_t")
    torch.manual_seed(0)
    hq_b = build_model("hq_vit_b").state_dict()
    with pytest.raises(StateDictError, match=r"looks like SAM ViT-B but does not fit it: 25 unexpected keys \(mask_de"):
        load_model(hq_b, "vit_b")


def test_unexpected_or_missing_keys_are_refused_naming_the_family(random_checkpoints, tmp_path):
    state = torch.load(random_checkpoints["vit_t"], map_location="cpu", weights_only=True)
    extra = tmp_path / "extra.pt"
    torch.save({**state, "mask_decoder.adapter.weight": torch.zeros(3)}, extra)
    with pytest.raises(weights.CheckpointError, match=r"extra\.pt: looks like MobileSAM TinyViT .*1 unexpected keys"):
        SamEngine.load(checkpoint=extra, device="cpu")
    lacking = tmp_path / "lacking.pt"
    torch.save({key: value for key, value in state.items() if not key.startswith("mask_decoder.iou_prediction_head")},
               lacking)
    with pytest.raises(weights.CheckpointError, match=r"lacking\.pt: looks like MobileSAM TinyViT .*6 missing keys"):
        SamEngine.load(checkpoint=lacking, device="cpu")


@pytest.mark.parametrize("case", ["tensor", "list", "int-keyed", "garbage", "nan", "inf", "empty", "text-values"])
def test_a_broken_checkpoint_is_refused_in_one_line(case, random_checkpoints, tmp_path):
    path = tmp_path / f"{case}.pt"
    state = torch.load(random_checkpoints["vit_t"], map_location="cpu", weights_only=True)
    if case == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip" * 100)
    else:
        poisoned = dict(state)
        if case in ("nan", "inf"):
            weight = poisoned["mask_decoder.iou_token.weight"].clone()
            weight[0, 3] = float("nan") if case == "nan" else float("inf")
            poisoned["mask_decoder.iou_token.weight"] = weight
        content = {"tensor": torch.zeros(4, 4), "list": [torch.zeros(2)], "int-keyed": {0: torch.zeros(2)},
                   "empty": {}, "text-values": {"image_encoder.x": "abc"}}.get(case, poisoned)
        torch.save(content, path)
    with pytest.raises(weights.CheckpointError) as caught:
        SamEngine.load(checkpoint=path, device="cpu")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    expected = {"tensor": "single tensor", "list": "holds a list", "int-keyed": "int key", "garbage": "cannot be read",
                "nan": "1 NaN/inf", "inf": "1 NaN/inf", "empty": "empty", "text-values": "not a tensor"}[case]
    assert expected in message


@pytest.mark.parametrize("model_type", [name for name in SMALLEST if name != "vit_b"])  # vit_b: vit_t's adapter
def test_the_paper_profile_runs_segment_anythings_generator_on_every_family(model_type, family_engines,
                                                                            family_embeddings, demo_image):
    image, baseline, _ = demo_image
    engine = family_engines[model_type]
    family_embeddings[model_type]  # the image is encoded: the generator's one crop is a cache hit
    encodes = engine.encode_count
    paper = replace(PERMISSIVE.gro, profile="paper", points_per_side=2, crop_n_layers=0, min_mask_region_area=0)
    result = Refiner(engine, replace(PERMISSIVE, gro=paper)).refine(image, baseline)
    assert result.gro is not None and result.gro.prompt_count == 4
    assert engine.encode_count == encodes
    assert result.labels.shape == baseline.shape
