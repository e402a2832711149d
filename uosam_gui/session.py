"""A review session (Qt-free): the data set's image/label pairs, each image's state and the user's
decisions, prompt edits and pixel edits, kept in ``OUT/uosam-session.json`` (+ ``OUT/.uosam/edits``).

Reopening a session re-runs the (deterministic) refinement of an image and re-applies its record,
so the state comes back exactly without storing the large intermediates.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from uosam_core.image_io import InputError, check_pair, read_image, read_labels, save_json_atomically, write_labels
from uosam_core.lro import redecode_object
from uosam_core.pairing import check_folders, pair_files
from uosam_core.pipeline import Progress, Refiner

from .document import NO_EDIT, ImageDocument, prompts_from_dict

SESSION_NAME = "uosam-session.json"
EDITS_DIR = ".uosam/edits"
STATES = ("not run", "refined", "reviewed", "edited", "error")


@dataclass
class ImageRecord:
    """What the session knows of one image."""

    key: str
    image: str | None
    label: str | None
    state: str = "not run"
    changed_fraction: float | None = None
    objects: dict[str, dict] = field(default_factory=dict)  # object index -> decision/class/prompts
    pixel_edits: int = 0  # edited pixel count (the edits live in OUT/.uosam/edits)
    saved: bool = False
    error: str | None = None


class Session:
    """Images + labels + output folder, and a record per image; saved atomically as JSON."""

    def __init__(self, images: Path, labels: Path, out: Path, *, label_encoding: str = "ids",
                 records: dict[str, ImageRecord] | None = None, current: str | None = None) -> None:
        self.images, self.labels, self.out = Path(images), Path(labels), Path(out)
        self.label_encoding = label_encoding
        self.records = records or {}
        self.current = current
        self._edits_written: dict[str, tuple[int, int]] = {}  # key -> (document id, pixel revision) on disk

    @property
    def path(self) -> Path:
        """The session file."""
        return self.out / SESSION_NAME

    @classmethod
    def open(cls, images: Path, labels: Path, out: Path, *, label_encoding: str = "ids") -> Session:
        """Pair the folders' files; resume the session file in ``out`` when there is one."""
        images, labels, out = Path(images), Path(labels), Path(out)
        check_folders(images, labels, out)
        previous = cls.load(out / SESSION_NAME) if (out / SESSION_NAME).is_file() else None
        records: dict[str, ImageRecord] = {}
        for pair in pair_files(images, labels):
            record = ImageRecord(pair.key, str(pair.image) if pair.image else None,
                                 str(pair.label) if pair.label else None)
            if pair.image is None or pair.label is None:
                record.state = "error"
                record.error = "no image for this label" if pair.image is None else "no label for this image"
            elif previous and pair.key in previous.records:
                old = previous.records[pair.key]
                record = replace(old, image=record.image, label=record.label)
                if record.state == "error":  # the files may have been fixed since: try again
                    record.state, record.error = ("edited" if record.objects or record.pixel_edits else "not run"), None
            records[pair.key] = record
        current = previous.current if previous and previous.current in records else None
        return cls(images, labels, out, label_encoding=label_encoding, records=records, current=current)

    @classmethod
    def load(cls, path: Path) -> Session:
        """Read a session file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            records = {key: ImageRecord(**value) for key, value in data["records"].items()}
            return cls(Path(data["images"]), Path(data["labels"]), Path(data["out"]),
                       label_encoding=data.get("label_encoding", "ids"), records=records, current=data.get("current"))
        except (OSError, ValueError, KeyError, TypeError) as problem:
            raise InputError(f"{path}: not a readable uosam session ({problem})") from None

    def save(self) -> None:
        """Write the session file atomically."""
        data = {"version": 1, "images": str(self.images), "labels": str(self.labels), "out": str(self.out),
                "label_encoding": self.label_encoding, "current": self.current,
                "records": {key: asdict(record) for key, record in self.records.items()}}
        save_json_atomically(self.path, json.dumps(data, indent=1))

    def keys(self) -> list[str]:
        """Image keys in data set order."""
        return list(self.records)

    def output_path(self, key: str) -> Path:
        """Where Save writes an image's final labels."""
        return self.out / f"{key}.png"

    def edits_path(self, key: str) -> Path:
        """Where an image's pixel edits are kept."""
        return self.out / EDITS_DIR / f"{key.replace('/', '__')}.npz"

    # ------------------------------------------------------------------ documents
    def open_document(self, key: str, refiner: Refiner, progress: Progress | None = None) -> ImageDocument:
        """Read, check and refine one image, then re-apply its recorded decisions and edits."""
        record = self.records[key]
        if record.image is None or record.label is None:
            raise InputError(f"{record.image or record.label}: {record.error}")
        image = read_image(record.image)
        baseline, label_format = read_labels(record.label, encoding=self.label_encoding)
        check_pair(image, baseline, record.label, num_classes=None, ignore_ids=refiner.config.ignore_ids)
        result = refiner.refine(image, baseline, progress=progress)
        document = ImageDocument(key, image, result, label_format, refiner, Path(record.label))
        self._restore(document, record)
        return document

    def _restore(self, document: ImageDocument, record: ImageRecord) -> None:
        refiner = document.refiner
        objects = list(document.objects)
        edited_prompts = {int(i): entry for i, entry in record.objects.items() if entry.get("prompts")}
        if edited_prompts:
            embedding = refiner.engine.encode(document.image)
        for index_text, entry in record.objects.items():
            index = int(index_text)
            if index >= len(objects) or objects[index].class_id != entry.get("baseline_class"):
                continue  # the baseline or the settings changed since: the record no longer applies
            obj = objects[index]
            if index in edited_prompts:
                obj = redecode_object(refiner.engine, embedding, obj, prompts_from_dict(entry["prompts"]),
                                      refiner.config.lro)
            objects[index] = replace(obj, decision=entry.get("decision", "auto"),
                                     class_id=int(entry.get("class_id", obj.class_id)))
        document.result.objects = objects
        refiner.recompose(document.result)
        edits = self.edits_path(document.key)
        if record.pixel_edits and edits.is_file():
            with np.load(edits) as stored:
                values = stored["pixel_edits"]
            if values.shape == document.pixel_edits.shape:
                document.pixel_edits = values.astype(np.int32)

    def record_document(self, document: ImageDocument) -> ImageRecord:
        """Store a document's decisions and edits in its record (pixel edits written atomically)."""
        record = self.records[document.key]
        record.objects = document.object_records()
        record.changed_fraction = round(float((document.labels != document.result.baseline).mean()), 5)
        record.error = None
        edited_pixels = int((document.pixel_edits != NO_EDIT).sum())
        edits = self.edits_path(document.key)
        written = (id(document), document.pixel_revision)
        if self._edits_written.get(document.key) == written:
            pass  # these pixel edits are on disk already
        elif edited_pixels:
            edits.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(suffix=".npz.part", dir=edits.parent)
            os.close(handle)
            with open(temporary, "wb") as stream:
                np.savez_compressed(stream, pixel_edits=document.pixel_edits)
            os.replace(temporary, edits)
        elif edits.exists():
            edits.unlink()
        self._edits_written[document.key] = written
        record.pixel_edits = edited_pixels
        if document.is_edited:
            record.state = "edited"
        elif record.state in ("not run", "error"):
            record.state = "refined"
        return record

    def save_labels(self, document: ImageDocument) -> Path:
        """Write the document's final labels to the output folder (input size, mode, palette; atomic)."""
        target = self.output_path(document.key)
        write_labels(target, document.labels, document.label_format)
        record = self.record_document(document)
        record.saved = True
        if record.state == "refined":
            record.state = "reviewed"
        return target

    def mark_error(self, key: str, message: str) -> None:
        """Remember that an image failed (shown in the file list)."""
        record = self.records[key]
        record.state, record.error = "error", message
