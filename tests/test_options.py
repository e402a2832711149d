"""The one option definition: every config field is an option, the CLI is built from it (same flags,
defaults, messages), settings survive the session file, and a new config field needs no extra code."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from uosam_core.cli import build_parser, main
from uosam_core.config import GroConfig, LroConfig, RefineConfig
from uosam_core.options import (
    BY_KEY,
    OPTIONS,
    Kind,
    OptionError,
    RefineSettings,
    add_arguments,
    build_options,
    check_label_ids,
    from_dict,
    settings_from_args,
    summary,
    to_dict,
)

# the refinement flags uosam refine had before the one definition: none may go away
LEGACY_FLAGS = ("--model", "--checkpoint", "--device", "--profile", "--no-lro", "--no-gro", "--min-vote-share",
                "--max-mask-fraction", "--ignore-index", "--background", "--object-mode", "--min-object-area",
                "--iou-threshold", "--fallback")


def refine_flags() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag for action in subparsers.choices["refine"]._actions for flag in action.option_strings}


def parse_refine(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["refine", "i", "l", "o", *extra])


def test_every_config_field_is_an_option_and_a_refine_flag():
    keys = {option.key for option in OPTIONS}
    assert {f"lro.{f.name}" for f in fields(LroConfig)} <= keys
    assert {f"gro.{f.name}" for f in fields(GroConfig)} <= keys
    assert {"model_type", "checkpoint", "device", "ignore_ids", "background_ids"} <= keys
    flags = refine_flags()
    assert {option.flag for option in OPTIONS} <= flags
    assert set(LEGACY_FLAGS) <= flags
    assert len({option.flag for option in OPTIONS}) == len(OPTIONS)


def test_cli_defaults_are_the_config_defaults():
    assert settings_from_args(parse_refine()) == RefineSettings()


def test_cli_flags_reach_the_config():
    settings = settings_from_args(parse_refine(
        "--no-gro", "--no-cascade", "--min-lcm-contrast", "0.3", "--iou-threshold", "0.7", "--ignore-index", "0,255",
        "--background", "3", "--object-mode", "component", "--model", "vit_t", "--checkpoint", "/x/m.pt",
        "--device", "cpu", "--max-prompts", "16"))
    lro, gro, config = settings.config.lro, settings.config.gro, settings.config
    assert (lro.cascade, lro.min_lcm_contrast, lro.iou_threshold, lro.object_mode) == (False, 0.3, 0.7, "component")
    assert (gro.profile, gro.max_prompts) == ("off", 16)
    assert (config.ignore_ids, config.background_ids) == ((0, 255), (3,))
    assert (settings.model_type, settings.checkpoint, settings.device) == ("vit_t", Path("/x/m.pt"), "cpu")
    assert settings_from_args(parse_refine("--profile", "paper", "--no-lro")).config.gro.profile == "paper"
    assert not settings_from_args(parse_refine("--no-lro")).config.lro.enabled


BOUNDED = [option for option in OPTIONS if option.low is not None]


@pytest.mark.parametrize("option", BOUNDED, ids=[option.flag for option in BOUNDED])
def test_cli_and_definition_refuse_a_value_with_the_same_message(option, capsys):
    text = str(option.low) if option.low_open else str(option.low - 1)
    with pytest.raises(OptionError) as refused:
        option.parse(text)
    with pytest.raises(SystemExit) as stopped:
        main(["refine", "i", "l", "o", option.flag, text])
    assert stopped.value.code == 2
    assert f"argument {option.message(refused.value)}" in capsys.readouterr().err


def test_ids_above_255_message_is_shared():
    settings = settings_from_args(parse_refine("--background", "300"))
    with pytest.raises(ValueError, match="ids above 255 cannot occur in 8-bit label maps"):
        check_label_ids(settings, "ids")
    check_label_ids(settings, "pass")  # 16-bit ids are fine there


def test_session_form_round_trips_and_bad_values_keep_their_default():
    settings = settings_from_args(parse_refine("--no-gro", "--iou-threshold", "1.0", "--checkpoint", "/m.pt"))
    data = to_dict(settings)
    assert data["gro.profile"] == "off" and data["lro.iou_threshold"] == "1.0"
    assert from_dict(data) == (settings, [])
    restored, problems = from_dict({**data, "gro.min_vote_share": "7", "no.such_option": "1"})
    assert restored.config.gro.min_vote_share == GroConfig().min_vote_share
    assert problems == ["--min-vote-share: must be >= 0.0 and <= 1.0, got 7 (using 0.55)"]
    assert "iou-threshold 1.0" in summary(restored) and "no-gro" not in summary(restored)


def test_a_new_config_field_becomes_an_option_and_a_flag_without_more_code():
    @dataclass(frozen=True)
    class LroWithKnob(LroConfig):
        new_knob: float = 0.25
        new_switch: bool = False
        new_limit: int | None = None

    options = build_options(lro=LroWithKnob)
    knob = next(option for option in options if option.key == "lro.new_knob")
    assert (knob.flag, knob.kind, knob.default) == ("--new-knob", Kind.FLOAT, 0.25)
    assert knob.parse("0.5") == 0.5
    limit = next(option for option in options if option.key == "lro.new_limit")
    assert (limit.kind, limit.optional, limit.parse(""), limit.parse("7")) == (Kind.INT, True, None, 7)
    parser = argparse.ArgumentParser()
    add_arguments(parser, options=options)
    args = parser.parse_args(["--new-knob", "0.75", "--new-switch", "--new-limit", "3"])
    assert (args.new_knob, args.new_switch, args.new_limit) == (0.75, True, 3)


def test_option_kinds_follow_the_field_types():
    assert BY_KEY["lro.object_mode"].choices == ("class", "component")
    assert BY_KEY["gro.profile"].choices == ("fast", "paper", "off")  # the dialog offers off; the CLI --no-gro
    assert BY_KEY["gro.profile"].cli_choices == ("fast", "paper")
    assert BY_KEY["lro.min_object_area"].kind is Kind.INT
    assert RefineConfig().ignore_ids == BY_KEY["ignore_ids"].default
