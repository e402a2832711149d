"""The refinement options, defined once: the ``uosam refine`` flags, the app's settings dialog and the
session file are all built from :data:`OPTIONS` (docs/decisions/0013-one-option-definition.md).

Every field of :class:`LroConfig` and :class:`GroConfig` (and the label ids of :class:`RefineConfig`)
becomes an :class:`Option` by itself: its kind comes from the field's type, its default from the
dataclass. :data:`_META` only adds what a type cannot say (flag name, help, range, section); a field
without an entry still gets a flag (``--field-name``), a widget and a place in the session file.
"""

from __future__ import annotations

import argparse
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from .config import GroConfig, LroConfig, PrecisionConfig, RefineConfig


class Kind(Enum):
    """How an option's value is written and read."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"
    IDS = "ids"  # comma-separated non-negative class ids
    PATH = "path"


class Section(Enum):
    """Where an option is shown (a tab of the dialog, a group of ``uosam refine --help``)."""

    MODEL = "Model"
    LRO = "LRO (objects)"
    GRO = "GRO (SAM masks vote)"
    PRECISION = "Baseline check"
    LABELS = "Label ids"


class OptionError(ValueError):
    """A value an option refuses; the message is the one ``uosam refine`` prints after the flag."""


ACRONYMS = {"iou": "IoU", "lcm": "LCM", "gro": "GRO", "lro": "LRO", "nms": "NMS", "sam": "SAM"}  # in labels


@dataclass(frozen=True)
class Meta:
    """What a field's type cannot say; every entry is optional."""

    flag: str | None = None  # default: --field-name
    help: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    basic: bool = False  # shown on the dialog's first rows; the others are tuning knobs
    off_flag: str | None = None  # an extra CLI switch that sets ``off_value`` (e.g. --no-gro)
    off_value: Any = None
    off_help: str | None = None
    choices: tuple[str, ...] | None = None  # CLI choices when they are fewer than the type's


@dataclass(frozen=True)
class Option:
    """One refinement option; ``key`` names it in the session file ("gro.min_vote_share")."""

    key: str
    flag: str
    kind: Kind
    default: Any
    section: Section
    help: str = ""
    choices: tuple[str, ...] = ()
    optional: bool = False  # None allowed ("" in text): --model, --checkpoint
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    basic: bool = False
    off_flag: str | None = None
    off_value: Any = None
    off_help: str | None = None
    cli_choices: tuple[str, ...] | None = None
    default_text: str | None = None  # the default in words, where None means more than "none" (--model)

    @property
    def dest(self) -> str:
        """The argparse attribute of :attr:`flag`."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def label(self) -> str:
        """A short human name ("Min vote share", "IoU threshold", "Min LCM contrast")."""
        words = self.key.split(".")[-1].replace("_", " ").capitalize().split(" ")
        return " ".join(ACRONYMS.get(word.lower(), word) for word in words)

    # ------------------------------------------------------------- text <-> value (CLI and dialog)
    def parse(self, text: str) -> Any:
        """The value written as ``text``; :class:`OptionError` with the CLI's message when refused."""
        text = text.strip()
        if self.optional and (text == "" or (self.kind is Kind.FLOAT and text.lower() in ("off", "none"))):
            return None
        if self.kind is Kind.BOOL:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise OptionError(f"expected true or false, got {text!r}")
        if self.kind is Kind.CHOICE:
            if text not in self.choices:
                raise OptionError(f"invalid choice: {text!r} (choose from {', '.join(map(repr, self.choices))})")
            return text
        if self.kind is Kind.IDS:
            return parse_ids(text)
        if self.kind is Kind.PATH:
            return Path(text)
        return self._number(text)

    def _number(self, text: str) -> int | float:
        kind = int if self.kind is Kind.INT else float
        try:
            value = kind(text)
        except ValueError:
            raise OptionError(f"expected {'an int' if kind is int else 'a number'}, got {text!r}") from None
        if not math.isfinite(value):
            raise OptionError(f"must be a finite number, got {text}")
        low, high = self.low, self.high
        too_low = low is not None and (value <= low if self.low_open else value < low)
        if too_low or (high is not None and value > high) or value != value:
            lower = "" if low is None else f"{'>' if self.low_open else '>='} {low}"
            upper = "" if high is None else f"<= {high}"
            raise OptionError(f"must be {' and '.join(x for x in (lower, upper) if x)}, got {text}")
        return value

    def text(self, value: Any) -> str:
        """``value`` written so that :meth:`parse` reads it back."""
        if value is None:
            return ""
        if self.kind is Kind.IDS:
            return ",".join(str(v) for v in value)
        if self.kind is Kind.BOOL:
            return "true" if value else "false"
        return str(value)

    def message(self, problem: OptionError | str) -> str:
        """The one line the CLI and the dialog show: ``--flag: problem``."""
        return f"{self.flag}: {problem}"


def parse_ids(text: str) -> tuple[int, ...]:
    """Comma-separated non-negative class ids ("255", "0,255", "" for none)."""
    try:
        parts = text.split(",") if text.strip() else []
        if any(not part.strip() for part in parts):
            raise ValueError
        ids = tuple(int(part) for part in parts)
    except ValueError:
        raise OptionError(f"expected comma-separated class ids, got {text!r}") from None
    if any(value < 0 for value in ids):
        raise OptionError(f"class ids must not be negative, got {text!r}")
    return ids


@dataclass(frozen=True)
class RefineSettings:
    """Everything a refinement run is set up with: the model and the :class:`RefineConfig`."""

    model_type: str | None = None
    checkpoint: Path | None = None
    device: str = "auto"
    config: RefineConfig = field(default_factory=RefineConfig)

    @property
    def model_key(self) -> tuple[str | None, str | None, str]:
        """What decides which engine is loaded (a change means loading another model)."""
        return self.model_type, None if self.checkpoint is None else str(self.checkpoint), self.device


_META: dict[str, Meta] = {
    "lro.enabled": Meta(flag="--no-lro", help="skip the local region optimizer", basic=True),
    "lro.object_mode": Meta(basic=True),
    "lro.min_object_area": Meta(low=0, basic=True, help="objects smaller than this (pixels) keep their baseline"),
    "lro.iou_threshold": Meta(low=0.0, high=1.0, basic=True,
                              help="a refined object with a lower IoU with its baseline object is rejected"),
    "lro.min_lcm_contrast": Meta(low=0.0, high=2.0, basic=True,
                                 help="an object whose LCM contrast (max - min) is lower is rejected"),
    "lro.fallback": Meta(basic=True, help="pixels refined away from an object: keep the baseline class, or "
                                          "mark them ignored for the GRO vote"),
    "lro.cascade": Meta(help="decode each object once (no second pass with the first mask's box and logits)"),
    "gro.profile": Meta(help="GRO mask generation", basic=True, off_flag="--no-gro", off_value="off",
                        off_help="skip the global region optimizer", choices=("fast", "paper")),
    "gro.min_vote_share": Meta(low=0.0, high=1.0, basic=True,
                               help="a GRO mask paints only when its winning class holds this share of its votes"),
    "gro.max_mask_fraction": Meta(low=0.0, high=1.0, low_open=True, basic=True,
                                  help="GRO masks covering more of the image do not vote (0.01 for near-exact "
                                       "baselines)"),
    "gro.keep_whole_share": Meta(low=0.0, high=1.0, basic=True,
                                 help="a region of another class with at least this share of its pixels inside a "
                                      "voting mask, and less like the winner than the winner's own pixels, keeps "
                                      "its class; 'off': no region is kept"),
    "gro.keep_min_area_fraction": Meta(low=0.0, high=1.0, help="regions smaller than this share of the image are "
                                                               "repainted anyway"),
    "gro.keep_feature_margin": Meta(low=-1.0, high=1.0,
                                    help="how much lower a kept region's mean LCM of the winning class must be "
                                         "than the winner's own pixels' (may be negative)"),
    "gro.keep_edge_strength": Meta(low=0.0, low_open=True,
                                   help="a region inside a voting mask is also kept when its outline lies on image "
                                        "edges this many times the image's mean gradient (small objects the LCM "
                                        "cannot tell apart); 'off': not used"),
    "gro.pred_iou_thresh": Meta(low=0.0, high=1.0, help="GRO masks with a lower predicted IoU are dropped"),
    "gro.stability_score_thresh": Meta(low=0.0, high=1.0, help="GRO masks less stable than this are dropped"),
    "gro.box_nms_thresh": Meta(low=0.0, high=1.0, help="box IoU above which GRO masks are suppressed"),
    "gro.min_mask_region_area": Meta(low=0, help="holes and islands smaller than this (pixels) are removed"),
    "gro.points_per_side": Meta(low=1, help="paper profile: prompt grid points per side"),
    "gro.crop_n_layers": Meta(low=0, help="paper profile: crop layers"),
    "gro.crop_n_points_downscale_factor": Meta(low=1, help="paper profile: grid downscale per crop layer"),
    "gro.fast_points_per_side": Meta(low=1, help="fast profile: prompt grid points per side"),
    "gro.boundary_band": Meta(low=0.0, high=1.0, help="fast profile: prompt only within this fraction of "
                                                      "max(H, W) of a class edge"),
    "gro.max_prompts": Meta(low=1, help="fast profile: the most point prompts decoded per image"),
    "precision.enabled": Meta(flag="--no-baseline-check", basic=True,
                              help="refine every image, also where the refined edges lie on image edges no "
                                   "stronger than the baseline's (the check keeps the baseline there)"),
    "precision.min_edge_gain": Meta(low=0.0, help="an image keeps its baseline unless its refined class edges lie "
                                                  "on image gradients this many times as strong as the baseline's"),
    "precision.min_detail_edge_gain": Meta(low=0.0, help="the same, where the refinement adds edge contrast (more "
                                                         "or longer edges) instead of simplifying them"),
    "precision.min_moved_edge_gain": Meta(low=0.0, help="where the refinement redraws class edges, the edges it draws "
                                                        "must lie on gradients this many times as strong as the "
                                                        "baseline edges they replace, or the image keeps its "
                                                        "baseline"),
    "precision.redrawn_length_ratio": Meta(low=0.0, help="the refinement redraws edges (the test above applies) when "
                                                         "it draws at least this many times the edge length it "
                                                         "removes"),
    "ignore_ids": Meta(flag="--ignore-index", basic=True, help="comma-separated ignore ids; an empty value: none"),
    "background_ids": Meta(flag="--background", basic=True, help="comma-separated ids the LRO leaves alone"),
}


def _model_types() -> tuple[str, ...]:
    from .models import MODEL_SPECS

    return tuple(MODEL_SPECS)


def _model_options() -> list[Option]:
    types = _model_types()
    return [
        Option("model_type", "--model", Kind.CHOICE, None, Section.MODEL, choices=types, optional=True, basic=True,
               help="model type: " + ", ".join(types),
               default_text="vit_t MobileSAM, or inferred from --checkpoint"),
        Option("checkpoint", "--checkpoint", Kind.PATH, None, Section.MODEL, optional=True, basic=True,
               help="a SAM-family checkpoint file"),
        Option("device", "--device", Kind.CHOICE, "auto", Section.MODEL, choices=("auto", "cpu", "cuda"), basic=True,
               help="where the model runs"),
    ]


def _kind_of(annotation: Any) -> tuple[Kind, tuple[str, ...], bool]:
    """(kind, choices, optional) of a field type; ``X | None`` is optional X. TypeError when unknown."""
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in arguments:
        inner = [arg for arg in arguments if arg is not type(None)]
        if len(inner) == 1:
            return (*_kind_of(inner[0])[:2], True)
    return (*_plain_kind(annotation), False)


def _plain_kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    if typing.get_origin(annotation) is typing.Literal:
        return Kind.CHOICE, tuple(str(arg) for arg in typing.get_args(annotation))
    if annotation is bool:
        return Kind.BOOL, ()
    if annotation is int:
        return Kind.INT, ()
    if annotation is float:
        return Kind.FLOAT, ()
    if typing.get_origin(annotation) is tuple:
        return Kind.IDS, ()
    raise TypeError(f"no option kind for {annotation!r}")


def _field_options(cls: type, prefix: str, section: Section, taken: set[str]) -> list[Option]:
    hints = typing.get_type_hints(cls, include_extras=False)
    options = []
    for item in fields(cls):
        if not item.init or item.name not in hints or is_dataclass(hints[item.name]):
            continue  # RefineConfig's lro / gro: their own fields are options
        key = f"{prefix}{item.name}"
        meta = _META.get(key, Meta())
        try:
            kind, choices, optional = _kind_of(hints[item.name])
        except TypeError:  # a type no widget or flag can hold: no option (tests list every field)
            continue
        default = item.default if item.default is not MISSING else item.default_factory()  # type: ignore[misc]
        flag = meta.flag or f"--{'no-' if kind is Kind.BOOL and default else ''}{item.name.replace('_', '-')}"
        if flag in taken:  # the same field name in LRO and GRO: the later one gets its prefix
            flag = f"--{prefix.rstrip('.')}-{flag.lstrip('-')}"
        taken.add(flag)
        options.append(Option(key, flag, kind, default, section, help=meta.help or "", choices=choices,
                              optional=optional,
                              low=meta.low, high=meta.high, low_open=meta.low_open, basic=meta.basic,
                              off_flag=meta.off_flag, off_value=meta.off_value, off_help=meta.off_help,
                              cli_choices=meta.choices))
    return options


def build_options(lro: type = LroConfig, gro: type = GroConfig) -> tuple[Option, ...]:
    """Every option, from the config dataclasses' fields (``lro`` / ``gro`` replace them in tests)."""
    taken = {"--model", "--checkpoint", "--device"}
    return (*_model_options(), *_field_options(lro, "lro.", Section.LRO, taken),
            *_field_options(gro, "gro.", Section.GRO, taken),
            *_field_options(PrecisionConfig, "precision.", Section.PRECISION, taken),
            *_field_options(RefineConfig, "", Section.LABELS, taken))


OPTIONS: tuple[Option, ...] = build_options()
BY_KEY: dict[str, Option] = {option.key: option for option in OPTIONS}


# ------------------------------------------------------------------- settings <-> values
def values_of(settings: RefineSettings) -> dict[str, Any]:
    """Option key -> value."""
    config = settings.config
    values: dict[str, Any] = {"model_type": settings.model_type, "checkpoint": settings.checkpoint,
                              "device": settings.device}
    for option in OPTIONS:
        if option.key not in values:
            owner, _, name = option.key.rpartition(".")
            values[option.key] = getattr(getattr(config, owner) if owner else config, name)
    return values


def settings_from_values(values: Mapping[str, Any], base: RefineSettings | None = None) -> RefineSettings:
    """Settings with ``values`` (option key -> value) over ``base`` (default: the defaults)."""
    base = base or RefineSettings()
    merged = values_of(base) | {key: value for key, value in values.items() if key in BY_KEY}
    lro = replace(base.config.lro, **{k[4:]: v for k, v in merged.items() if k.startswith("lro.")})
    gro = replace(base.config.gro, **{k[4:]: v for k, v in merged.items() if k.startswith("gro.")})
    precision = replace(base.config.precision, **{k[10:]: v for k, v in merged.items() if k.startswith("precision.")})
    top = {k: v for k, v in merged.items() if "." not in k and k in {f.name for f in fields(RefineConfig)}}
    config = replace(base.config, lro=lro, gro=gro, precision=precision, **top)
    checkpoint = merged["checkpoint"]
    return RefineSettings(merged["model_type"], None if checkpoint is None else Path(checkpoint),
                          merged["device"], config)


def check_label_ids(settings: RefineSettings, label_encoding: str) -> None:
    """8-bit label maps cannot hold ids above 255: ValueError (the CLI's message) when one is set."""
    config = settings.config
    if label_encoding == "ids" and any(value > 255 for value in config.ignore_ids + config.background_ids):
        raise ValueError("--ignore-index / --background ids above 255 cannot occur in 8-bit label maps")


def to_dict(settings: RefineSettings) -> dict[str, Any]:
    """Plain JSON data (option key -> text form), as kept in the session file."""
    return {key: BY_KEY[key].text(value) for key, value in values_of(settings).items()}


def from_dict(data: Mapping[str, Any]) -> tuple[RefineSettings, list[str]]:
    """Settings read back from :func:`to_dict` data; a value an option refuses keeps its default and is
    named in the returned problems (one line each); unknown keys (an older or newer version) are ignored."""
    values, problems = {}, []
    for key, raw in data.items():
        option = BY_KEY.get(key)
        if option is None:
            continue
        try:
            values[key] = option.parse(option.text(raw) if not isinstance(raw, str) else raw)
        except (OptionError, TypeError) as problem:
            problems.append(f"{option.message(problem)} (using {option.text(option.default) or 'none'})")
    return settings_from_values(values), problems


def changed(settings: RefineSettings) -> list[tuple[Option, Any]]:
    """The options whose value differs from the default, in definition order."""
    values = values_of(settings)
    return [(option, values[option.key]) for option in OPTIONS if values[option.key] != option.default]


def summary(settings: RefineSettings) -> str:
    """One short line for the status bar: the model and every option not at its default."""
    model = settings.model_type or (Path(settings.checkpoint).name if settings.checkpoint else "vit_t")
    rest = [f"{option.flag.lstrip('-')} {option.text(value) or 'none'}" for option, value in changed(settings)
            if option.section is not Section.MODEL]
    return ", ".join([model, *rest]) if rest else f"{model}, default settings"


# ------------------------------------------------------------------- argparse
def _argparse_type(option: Option):
    def parse(text: str):
        if option.kind is Kind.PATH and not text.strip():  # the dialog's empty field means "none"; a flag needs a file
            raise argparse.ArgumentTypeError("expected a file, got an empty path")
        try:
            return option.parse(text)
        except OptionError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None

    parse.__name__ = option.kind.value  # argparse names the type in some messages
    return parse


def add_arguments(parser: argparse.ArgumentParser, sections: Iterable[Section] = tuple(Section),
                  options: Iterable[Option] = OPTIONS) -> None:
    """Add a flag per option of ``sections`` (grouped as in the dialog); ``options``: see :func:`build_options`."""
    options = tuple(options)
    for section in sections:
        group = parser if section is Section.MODEL else parser.add_argument_group(section.value)
        for option in options:
            if option.section is not section:
                continue
            if option.kind is Kind.BOOL:
                group.add_argument(option.flag, action="store_true", help=option.help or None)
                continue
            extra: dict[str, Any] = {}
            if option.kind is Kind.CHOICE:
                extra = {"choices": list(option.cli_choices or option.choices)}
                if option.optional:
                    extra["metavar"] = "TYPE"
            else:
                extra = {"type": _argparse_type(option)}
            default = option.text(option.default) if option.kind is Kind.IDS else option.default
            shown = "off" if option.default is None and option.kind is Kind.FLOAT else option.text(option.default)
            shown = option.default_text or shown or "none"
            help_text = f"{option.help} (default: {shown})" if option.help else f"default: {shown}"
            group.add_argument(option.flag, default=default, help=help_text, **extra)
            if option.off_flag:
                group.add_argument(option.off_flag, action="store_true",
                                   help=option.off_help or f"{option.flag} {option.off_value}")


def settings_from_args(args: argparse.Namespace) -> RefineSettings:
    """The settings given by :func:`add_arguments`' flags."""
    values = {}
    for option in OPTIONS:
        value = getattr(args, option.dest)
        if option.kind is Kind.BOOL:
            value = (not value) if option.flag.startswith("--no-") else value
        if option.kind is Kind.IDS and isinstance(value, str):
            value = option.parse(value)
        if option.off_flag and getattr(args, option.off_flag.lstrip("-").replace("-", "_")):
            value = option.off_value
        values[option.key] = value
    return settings_from_values(values)
