import numpy as np
import torch

from uosam_core.embedding_cache import EmbeddingCache
from uosam_core.engine import Prompts, SamEngine
from uosam_core.objects import mask_box, mask_iou


def test_encode_gives_features_and_geometry(engine, demo_image):
    image, _, _ = demo_image
    embedding = engine.encode(image)
    assert tuple(embedding.features.shape) == (1, 256, 64, 64)
    assert embedding.original_size == image.shape[:2]
    assert max(embedding.input_size) == 1024
    assert embedding.grid_size == (-(-embedding.input_size[0] // 16), -(-embedding.input_size[1] // 16))


def test_second_encode_of_the_same_pixels_is_a_cache_hit(engine, demo_image):
    image, _, _ = demo_image
    first = engine.encode(image)
    count = engine.encode_count
    second = engine.encode(image.copy())
    assert engine.encode_count == count
    assert torch.equal(first.features, second.features)


def test_disk_cache_survives_a_new_engine(engine, demo_image, tmp_path):
    image, _, _ = demo_image
    features = engine.encode(image).features
    disk_engine = SamEngine(engine.model, engine.model_type, engine.model_id, engine.device,
                            EmbeddingCache(disk_dir=tmp_path))
    disk_engine.encode(image)
    assert disk_engine.encode_count == 1
    assert len(list(tmp_path.glob("*.pt"))) == 1
    fresh = SamEngine(engine.model, engine.model_type, engine.model_id, engine.device,
                      EmbeddingCache(disk_dir=tmp_path))
    reloaded = fresh.encode(image)
    assert fresh.encode_count == 0
    assert torch.allclose(reloaded.features, features)


def test_batched_decode_equals_one_by_one(engine, demo_image):
    image, _, _ = demo_image
    embedding = engine.encode(image)
    points = np.array([[[40.0, 60.0]], [[160.0, 200.0]], [[280.0, 100.0]]], np.float32)
    labels = np.ones((3, 1), np.int64)
    together = engine.decode(embedding, Prompts(points, labels))
    for row in range(3):
        alone = engine.decode(embedding, Prompts(points[row:row + 1], labels[row:row + 1]))
        assert torch.allclose(alone.low_res_logits[0], together.low_res_logits[row], atol=1e-3)
        assert torch.allclose(alone.scores[0], together.scores[row], atol=1e-4)


def test_box_around_a_true_object_segments_it(engine, demo_image):
    image, _, truth = demo_image
    from uosam_core.objects import largest_component

    def compactness(mask):
        x0, y0, x1, y1 = mask_box(mask)
        return mask.sum() / ((x1 - x0) * (y1 - y0))

    pieces = [largest_component(truth == c) for c in np.unique(truth[truth != 255])]
    pieces = [m for m in pieces if m.sum() > 0.02 * m.size]
    target = max(pieces, key=compactness)
    box = np.array([mask_box(target)], np.float32)
    embedding = engine.encode(image)
    decoded = engine.decode(embedding, Prompts(boxes=box), multimask=False)
    mask = engine.upscale(embedding, decoded.low_res_logits)[0, 0].numpy() > 0
    assert mask.shape == target.shape
    assert mask_iou(mask, target) > 0.5
