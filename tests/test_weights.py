from pathlib import Path

import pytest
import torch

from uosam_core import weights
from uosam_core.engine import SamEngine, infer_model_type


@pytest.fixture(scope="module")
def real_checkpoint() -> Path:
    return weights.fetch("vit_t")


def test_cached_default_checkpoint_is_the_known_file(real_checkpoint):
    weights.verify(real_checkpoint, "vit_t")
    assert real_checkpoint.stat().st_size == 40_728_226
    assert weights.identify(real_checkpoint) == "vit_t"


def test_truncated_checkpoint_is_refused_with_its_size(real_checkpoint, tmp_path):
    truncated = tmp_path / "mobile_sam.pt"
    truncated.write_bytes(real_checkpoint.read_bytes()[:1_000_000])
    with pytest.raises(weights.CheckpointError, match="1000000 bytes.*truncated"):
        weights.verify(truncated, "vit_t")
    with pytest.raises(weights.CheckpointError, match="mobile_sam.pt"):
        SamEngine.load(checkpoint=truncated)


def test_same_size_but_altered_checkpoint_fails_the_hash(real_checkpoint, tmp_path):
    data = bytearray(real_checkpoint.read_bytes())
    data[-10] ^= 0xFF
    altered = tmp_path / "altered.pt"
    altered.write_bytes(bytes(data))
    with pytest.raises(weights.CheckpointError, match="sha256"):
        weights.verify(altered, "vit_t")
    with pytest.raises(weights.CheckpointError, match="sha256"):
        weights.resolve("vit_t", altered)


def test_fetch_installs_an_explicit_file_into_an_empty_cache(real_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("UOSAM_CACHE_DIR", str(tmp_path / "cache"))
    installed = weights.fetch("vit_t", checkpoint=real_checkpoint, log=lambda line: None)
    assert installed == tmp_path / "cache" / "checkpoints" / "mobile_sam.pt"
    assert weights.sha256_of(installed) == weights.KNOWN_CHECKPOINTS["vit_t"].sha256
    assert not list(installed.parent.glob("*.part"))


def test_a_torch_file_that_is_not_sam_is_refused(tmp_path):
    other = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(2, 3, 1, 1)}, other)
    with pytest.raises(weights.CheckpointError, match="not a SAM-family"):
        SamEngine.load(checkpoint=other)


class Payload:
    """An arbitrary pickled object, which weights_only loading must refuse."""


def test_a_pickled_object_is_not_loaded(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"obj": Payload()}, evil)
    with pytest.raises(weights.CheckpointError, match="cannot be read"):
        SamEngine.load(checkpoint=evil)


def test_model_type_is_inferred_from_the_state_dict(real_checkpoint):
    state = torch.load(real_checkpoint, map_location="cpu", weights_only=True)
    assert infer_model_type(state) == "vit_t"
    for width, expected in ((768, "vit_b"), (1024, "vit_l"), (1280, "vit_h")):
        assert infer_model_type({"image_encoder.patch_embed.proj.weight": torch.zeros(width, 3, 16, 16)}) == expected


def test_declared_model_type_must_match_the_file(real_checkpoint):
    with pytest.raises(weights.CheckpointError, match="holds a vit_t model, not vit_b"):
        SamEngine.load(model_type="vit_b", checkpoint=real_checkpoint)


def test_a_byte_flipped_copy_is_refused_as_corrupt_without_model(real_checkpoint, tmp_path):
    data = bytearray(real_checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped = tmp_path / "my_model.pt"
    flipped.write_bytes(bytes(data))
    with pytest.raises(weights.CheckpointError, match=r"my_model\.pt: has the size of mobile_sam .*corrupt"):
        SamEngine.load(checkpoint=flipped, device="cpu")


def test_a_file_with_a_known_name_but_another_hash_is_refused(tmp_path):
    impostor = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}, impostor)
    with pytest.raises(weights.CheckpointError, match="has the name of sam_vit_b .*corrupt or altered copy"):
        SamEngine.load(checkpoint=impostor, device="cpu")


def test_the_real_checkpoint_by_path_is_identified_by_its_hash(real_checkpoint, tmp_path):
    renamed = tmp_path / "renamed.bin"
    renamed.write_bytes(real_checkpoint.read_bytes())
    checked = weights.check_file(renamed)
    assert checked.known_type == "vit_t" and checked.sha256 == weights.KNOWN_CHECKPOINTS["vit_t"].sha256


def test_weights_list_shows_every_known_checkpoint_with_hash_size_and_family(capsys):
    from uosam_core.cli import main

    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for model_type, entry in weights.KNOWN_CHECKPOINTS.items():
        row = next(line for line in lines if line.startswith(f"{model_type} "))
        assert entry.sha256 in row and entry.family in row and entry.filename in row
        if entry.size_bytes is not None:
            assert f"{entry.size_bytes:,}" in row
    assert "sam2.1_hiera_t" in lines[-1] and "hq_vit_b" in lines[-1]


def test_refine_with_a_broken_checkpoint_says_one_line(tmp_path, capsys):
    from uosam_core.cli import main

    broken = tmp_path / "weights.pt"
    torch.save([torch.zeros(3)], broken)
    for folder in ("images", "labels"):
        (tmp_path / folder).mkdir()
    code = main(["refine", str(tmp_path / "images"), str(tmp_path / "labels"), str(tmp_path / "out"),
                 "--checkpoint", str(broken), "--device", "cpu", "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error == f"uosam refine: {broken}: holds a list, not a state dict"


def test_a_family_without_a_known_download_asks_for_its_file():
    with pytest.raises(weights.CheckpointError, match="no known download for sam2.1_hiera_t: pass its file"):
        SamEngine.load(model_type="sam2.1_hiera_t", device="cpu")
