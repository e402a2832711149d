"""A review session (Qt-free): the data set's image/label pairs, each image's state and the user's
decisions, prompt edits and pixel edits, kept in ``OUT/uosam-session.json`` (+ ``OUT/.uosam/edits``).

Reopening a session takes an image's stored refinement result (``OUT/.uosam/results``, see
:mod:`uosam_core.result_store`; refined again only when none matches its files, settings and model)
and re-applies its record, so the state comes back exactly.

Files: every write is atomic with umask permissions; a write that fails raises :class:`SaveError`
(one line) and keeps the in-memory state, so a later save retries. A corrupt session or edits file is
moved aside to ``NAME.bad-<time>`` and the user is told in :attr:`Session.notices`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from uosam_core.config import RefineConfig, settings_changes
from uosam_core.image_io import InputError, check_pair, read_image, read_labels
from uosam_core.lro import redecode_object
from uosam_core.pairing import check_folders, pair_files
from uosam_core.pipeline import Progress, Refiner
from uosam_core.result_store import ResultStore, load_or_refine

from .document import NO_EDIT, ImageDocument, prompts_from_dict
from .output_files import (
    SaveError,
    check_edits_file,
    read_edits_file,
    save_error,
    set_aside_notice,
    writable_problem,
    write_edits_file,
    write_label_file,
    write_text_file,
)

__all__ = ["EDITS_DIR", "SESSION_NAME", "STATES", "ImageRecord", "ImageState", "SaveError", "Session",
           "writable_problem"]

SESSION_NAME = "uosam-session.json"
EDITS_DIR = ".uosam/edits"


class ImageState(StrEnum):
    """An image's state in the file list (equal to its display text)."""

    NOT_RUN = "not run"
    REFINED = "refined"  # refined, nothing changed, not saved
    REVIEWED = "reviewed"  # saved by the user, nothing changed
    EDITED = "edited"  # the user changed something that is still in effect (undone changes do not count)
    ERROR = "error"


STATES = tuple(state.value for state in ImageState)


@dataclass
class ImageRecord:
    """What the session knows of one image."""

    key: str
    image: str | None
    label: str | None
    state: ImageState = ImageState.NOT_RUN
    changed_fraction: float | None = None
    risk: float | None = None  # share changed against weak evidence (RefineResult.risk); the review queue sorts by it
    baseline_kept: bool = False  # the refinement kept the baseline (RefineResult.baseline_kept: the baseline check)
    refine_anyway: bool = False  # the user chose the refinement over the baseline check's kept baseline
    objects: dict[str, dict] = field(default_factory=dict)  # object index -> decision/class/prompts
    pixel_edits: int = 0  # edited pixel count (the edits live in OUT/.uosam/edits)
    saved: bool = False
    error: str | None = None
    # the refinement config (RefineConfig.to_dict) of the result the decisions and edits were made on: the
    # image opens with it again, even after the settings changed, until it is refined again
    config: dict | None = None

    def __post_init__(self) -> None:
        # a session file stores the text; one this version does not know is run again
        self.state = ImageState(self.state) if self.state in STATES else ImageState.NOT_RUN

    @property
    def has_user_changes(self) -> bool:
        """Whether decisions, pixel edits or a chosen refinement are recorded for the image."""
        return bool(self.objects or self.pixel_edits or self.refine_anyway)


class Session:
    """Images + labels + output folder, and a record per image; saved atomically as JSON."""

    def __init__(self, images: Path, labels: Path, out: Path, *, label_encoding: str = "ids",
                 records: dict[str, ImageRecord] | None = None, current: str | None = None) -> None:
        self.images, self.labels, self.out = Path(images), Path(labels), Path(out)
        self.label_encoding = label_encoding
        self.records = records or {}
        self.current = current
        self.settings: dict | None = None  # the refinement settings (uosam_core.options.to_dict), None: not set
        self.notices: list[str] = []  # lines for the user: files set aside at open / restore
        self.unsaved: dict[str, str] = {}  # key -> why its pixel edits are not on disk (in memory only)
        self.fresh_keys: set[str] = set()  # keys open_document refines even when a stored result matches

    @property
    def path(self) -> Path:
        """The session file."""
        return self.out / SESSION_NAME

    @classmethod
    def open(cls, images: Path, labels: Path, out: Path, *, label_encoding: str = "ids",
             require_writable: bool = True) -> Session:
        """Pair the folders' files; resume the session file in ``out`` when there is one.

        Raises InputError when a folder is missing or ``out`` cannot be written (see
        :func:`writable_problem`; with ``require_writable=False`` such a session opens all the same and
        keeps its changes in memory, each save raising SaveError). A corrupt session file is moved aside
        and the session starts fresh from the folders; a corrupt edits file is moved aside and its image
        opens without those edits; both are said in :attr:`notices`.
        """
        images, labels, out = Path(images), Path(labels), Path(out)
        check_folders(images, labels, out)
        problem = writable_problem(out) if require_writable else None
        if problem:
            raise InputError(problem)
        notices: list[str] = []
        previous = None
        if (out / SESSION_NAME).is_file():
            try:
                previous = cls.load(out / SESSION_NAME)
            except InputError as unreadable:
                notices.append(set_aside_notice(out / SESSION_NAME, str(unreadable),
                                                "starting a fresh session from the folders"))
        records: dict[str, ImageRecord] = {}
        for pair in pair_files(images, labels):
            record = ImageRecord(pair.key, str(pair.image) if pair.image else None,
                                 str(pair.label) if pair.label else None)
            if pair.problem is not None or pair.image is None or pair.label is None:
                record.state = ImageState.ERROR
                record.error = pair.problem or ("no image for this label" if pair.image is None
                                                else "no label for this image")
            elif previous and pair.key in previous.records:
                old = previous.records[pair.key]
                record = replace(old, image=record.image, label=record.label)
                if record.state == ImageState.ERROR:  # the files may have been fixed since: try again
                    touched = record.has_user_changes
                    record.state, record.error = (ImageState.EDITED if touched else ImageState.NOT_RUN), None
            records[pair.key] = record
        current = previous.current if previous and previous.current in records else None
        session = cls(images, labels, out, label_encoding=label_encoding, records=records, current=current)
        session.notices = notices
        session.settings = previous.settings if previous is not None else None
        session._adopt_orphan_edits(previous)
        for record in records.values():
            if record.pixel_edits:
                session._check_edits_file(record)
        return session

    def _adopt_orphan_edits(self, previous: Session | None) -> None:
        """Pixel edits on disk that no session record mentions (the session file was lost or set aside)
        are taken back, so a later save cannot overwrite them with unedited labels."""
        known = set(previous.records) if previous is not None else set()
        adopted = []
        for record in self.records.values():
            if record.key in known or record.state == ImageState.ERROR or not self.edits_path(record.key).is_file():
                continue
            record.pixel_edits = max(record.pixel_edits, 1)  # the true count is taken when the image opens
            record.state = ImageState.EDITED
            adopted.append(record.key)
        if adopted:
            self.notices.append(f"{self.out / EDITS_DIR}: pixel edits of {len(adopted)} image(s) found without a "
                                f"session record ({', '.join(adopted[:5])}{', ...' if len(adopted) > 5 else ''}): "
                                "taken back; their object decisions could not be recovered")

    def _check_edits_file(self, record: ImageRecord) -> None:
        """Set a corrupt edits file aside now (cheap: reads the zip directory), so its image still opens."""
        edits = self.edits_path(record.key)
        if not edits.is_file():
            return
        try:
            check_edits_file(edits)
        except ValueError as corrupt:
            self.notices.append(set_aside_notice(edits, str(corrupt), f"{record.key} opens without its pixel edits"))
            record.pixel_edits = 0

    @classmethod
    def load(cls, path: Path) -> Session:
        """Read a session file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            records = {key: ImageRecord(**value) for key, value in data["records"].items()}
            session = cls(Path(data["images"]), Path(data["labels"]), Path(data["out"]),
                          label_encoding=data.get("label_encoding", "ids"), records=records,
                          current=data.get("current"))
            settings = data.get("settings")
            session.settings = settings if isinstance(settings, dict) else None
            return session
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as problem:
            raise InputError(f"{path}: not a readable uosam session ({problem})") from None

    def save(self) -> None:
        """Write the session file atomically; SaveError (one line) when it cannot be written."""
        data = {"version": 1, "images": str(self.images), "labels": str(self.labels), "out": str(self.out),
                "label_encoding": self.label_encoding, "current": self.current,
                "settings": self.settings,
                "records": {key: asdict(record) for key, record in self.records.items()}}
        write_text_file(self.path, json.dumps(data, indent=1))

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
        fresh = key in self.fresh_keys  # "refine again": the current settings, no stored result
        current = refiner
        reviewed_with = None if fresh else self._reviewed_config(record, current)
        if reviewed_with is not None:
            refiner = Refiner(current.engine, reviewed_with)
        obtained = load_or_refine(ResultStore(self.out), key, record.image, record.label, image, baseline, refiner,
                                  label_encoding=self.label_encoding, progress=progress,
                                  use_stored=not fresh)  # a matching stored result: no refinement
        document = ImageDocument(key, image, obtained.result, label_format, refiner, Path(record.label))
        document.store_notices.extend(obtained.notices)
        if reviewed_with is not None:
            changes = settings_changes(reviewed_with.to_dict(), current.config.to_dict())
            document.notices.append(f"{key}: shown as you reviewed it, with the settings of then ("
                                    f"{', '.join(changes[:3])}{' ...' if len(changes) > 3 else ''}); "
                                    "Image > Refine again uses the current ones")
        self._restore(document, record)
        return document

    @staticmethod
    def _reviewed_config(record: ImageRecord, refiner: Refiner) -> RefineConfig | None:
        """The config an image was reviewed with, when it has decisions or edits and it differs from the
        refiner's (None: open it with the refiner's own). A record that holds no readable config is None."""
        if record.config is None or not record.has_user_changes:
            return None
        try:
            config = RefineConfig.from_dict(record.config)
        except (TypeError, ValueError):
            return None
        return None if config == refiner.config else config

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
        document.result.refine_anyway = record.refine_anyway
        document.recompose()
        edits = self.edits_path(document.key)
        if not (record.pixel_edits and edits.is_file()):
            if not record.pixel_edits:
                document.edits_on_disk = (str(edits), document.pixel_revision)  # nothing to write
            return
        try:
            values = read_edits_file(edits)
        except ValueError as corrupt:
            notice = set_aside_notice(edits, str(corrupt), f"{document.key} opens without its pixel edits")
            self.notices.append(notice)
            document.notices.append(notice)
            return
        if values.shape == document.pixel_edits.shape:
            document.pixel_edits = values
            document.edits_on_disk = (str(edits), document.pixel_revision)  # as read: no need to write again
        else:
            document.notices.append(f"{edits}: pixel edits of size {values.shape[1]}x{values.shape[0]} do not "
                                    f"fit the image; {document.key} opens without them")

    def record_document(self, document: ImageDocument) -> ImageRecord:
        """Store a document's decisions and edits in its record and write its pixel edits (atomically).

        The record is updated first; when the edits file cannot be written a SaveError is raised, the key
        stays in :attr:`unsaved` and the next call writes it again. State: "edited" while a change is in
        effect (all undone: back to "reviewed" when saved, else "refined").
        """
        record = self.records[document.key]
        record.objects = document.object_records()
        record.config = document.refiner.config.to_dict()
        record.changed_fraction = round(float((document.labels != document.result.baseline).mean()), 5)
        record.risk = round(float(document.result.risk), 6)
        record.baseline_kept = bool(getattr(document.result, "baseline_kept", False))
        record.refine_anyway = bool(getattr(document.result, "refine_anyway", False))
        record.error = None
        edited_pixels = int((document.pixel_edits != NO_EDIT).sum())
        record.pixel_edits = edited_pixels
        if document.is_edited:
            record.state = ImageState.EDITED
        else:
            record.state = ImageState.REVIEWED if record.saved else ImageState.REFINED
        self._write_edits(document, edited_pixels)
        return record

    def _write_edits(self, document: ImageDocument, edited_pixels: int) -> None:
        edits = self.edits_path(document.key)
        written = (str(edits), document.pixel_revision)
        if document.edits_on_disk == written:
            return  # these pixel edits are on disk already
        try:
            if edited_pixels:
                write_edits_file(edits, document.pixel_edits)
            elif edits.exists():
                try:
                    edits.unlink()
                except OSError as problem:
                    raise save_error(edits, problem, "could not be removed") from None
        except SaveError as problem:
            self.unsaved[document.key] = str(problem)
            raise
        self.unsaved.pop(document.key, None)
        document.edits_on_disk = written

    def save_labels(self, document: ImageDocument) -> Path:
        """Write the document's final labels to the output folder (input size, mode, palette; atomic,
        umask permissions). SaveError when the file cannot be written; nothing in memory is lost."""
        target = self.output_path(document.key)
        write_label_file(target, document.labels, document.label_format)
        self.records[document.key].saved = True
        self.record_document(document)
        return target

    def mark_error(self, key: str, message: str) -> None:
        """Remember that an image failed (shown in the file list)."""
        record = self.records[key]
        record.state, record.error = ImageState.ERROR, message
