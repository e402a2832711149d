"""The ``uosam`` command: refine folders, evaluate them, manage checkpoints."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from . import weights
from .config import GroConfig, LroConfig, RefineConfig

EXIT_SKIPPED = 3


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=sorted(weights.KNOWN_CHECKPOINTS), default=None,
                        help="model type (default: vit_t MobileSAM, or inferred from --checkpoint)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a SAM-family checkpoint file")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--embedding-cache", type=Path, default=None, help="folder for an on-disk embedding cache")


def _refine_config(args: argparse.Namespace) -> RefineConfig:
    lro = LroConfig(enabled=not args.no_lro, object_mode=args.object_mode, min_object_area=args.min_object_area,
                    iou_threshold=args.iou_threshold, fallback=args.fallback)
    gro = replace(GroConfig(), profile="off" if args.no_gro else args.profile, min_vote_share=args.min_vote_share,
                  max_mask_fraction=args.max_mask_fraction)
    return RefineConfig(lro=lro, gro=gro, ignore_ids=_ids(args.ignore_index), background_ids=_ids(args.background))


def _cmd_refine(args: argparse.Namespace) -> int:
    from .batch import run_folder
    from .embedding_cache import EmbeddingCache
    from .engine import SamEngine
    from .pipeline import Refiner

    config = _refine_config(args)
    engine = SamEngine.load(args.model, args.checkpoint, args.device,
                            cache=EmbeddingCache(disk_dir=args.embedding_cache))
    summary = run_folder(Refiner(engine, config), args.images, args.labels, args.out,
                         label_encoding=args.label_encoding, num_classes=args.num_classes,
                         overwrite=args.overwrite, progress=not args.quiet)
    counts = summary.to_dict()["counts"]
    print(f"refined {counts['written']}, already done {counts['resumed']}, skipped {counts['skipped']} "
          f"in {summary.seconds:.1f} s -> {args.out}")
    return EXIT_SKIPPED if summary.skipped else 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_folders

    ignore = None if args.ignore_index < 0 else args.ignore_index
    report = evaluate_folders(args.pred, args.gt, num_classes=args.num_classes, ignore_index=ignore,
                              hungarian=args.hungarian, protocol=args.protocol)
    for line in report.skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(report.line)
    if args.json:
        print(json.dumps(report.values))
    return EXIT_SKIPPED if report.skipped else 0


def _cmd_weights(args: argparse.Namespace) -> int:
    if args.action == "list":
        for model_type, entry in weights.KNOWN_CHECKPOINTS.items():
            path = weights.cached_path(model_type)
            state = "cached" if path.is_file() else "not cached"
            default = " (default)" if model_type == weights.DEFAULT_MODEL_TYPE else ""
            print(f"{model_type:6} {entry.filename:24} {state:10} {path}{default}")
        return 0
    model_type = args.model or weights.DEFAULT_MODEL_TYPE
    if args.action == "fetch":
        path = weights.fetch(model_type, args.checkpoint, log=lambda line: print(line, file=sys.stderr))
        print(f"{model_type}: {path}")
        return 0
    path = args.checkpoint or weights.cached_path(model_type)
    weights.verify(Path(path), model_type)
    print(f"{path}: ok ({model_type}, sha256 {weights.known(model_type).sha256[:12]}...)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``uosam``."""
    parser = argparse.ArgumentParser(prog="uosam", description="Refine unsupervised segmentation labels with SAM.")
    commands = parser.add_subparsers(dest="command", required=True)

    refine = commands.add_parser("refine", help="refine a folder of label maps")
    refine.add_argument("images", type=Path)
    refine.add_argument("labels", type=Path)
    refine.add_argument("out", type=Path)
    _add_model_options(refine)
    refine.add_argument("--profile", choices=["fast", "paper"], default="fast", help="GRO mask generation")
    refine.add_argument("--no-lro", action="store_true", help="skip the local region optimizer")
    refine.add_argument("--no-gro", action="store_true", help="skip the global region optimizer")
    refine.add_argument("--min-vote-share", type=float, default=GroConfig.min_vote_share,
                        help="a GRO mask paints only when its winning class holds this share of its votes")
    refine.add_argument("--max-mask-fraction", type=float, default=GroConfig.max_mask_fraction,
                        help="GRO masks covering more of the image do not vote (0.01 for near-exact baselines)")
    refine.add_argument("--ignore-index", default="255", help="comma-separated ignore ids (default 255)")
    refine.add_argument("--background", default="", help="comma-separated ids the LRO leaves alone")
    refine.add_argument("--num-classes", type=int, default=None, help="refuse labels with ids >= this")
    refine.add_argument("--object-mode", choices=["class", "component"], default=LroConfig.object_mode)
    refine.add_argument("--min-object-area", type=int, default=LroConfig.min_object_area)
    refine.add_argument("--iou-threshold", type=float, default=LroConfig.iou_threshold)
    refine.add_argument("--fallback", choices=["baseline", "ignore"], default=LroConfig.fallback)
    refine.add_argument("--label-encoding", choices=["ids", "pass"], default="ids",
                        help="ids: 8-bit PNG ids; pass: RGB PNG with class = R + 256*G (ImageNet-S)")
    refine.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    refine.add_argument("--quiet", action="store_true", help="no progress bar")
    refine.set_defaults(handler=_cmd_refine)

    evaluate = commands.add_parser("eval", help="score predicted label maps against ground truth")
    evaluate.add_argument("pred", type=Path)
    evaluate.add_argument("gt", type=Path)
    evaluate.add_argument("--num-classes", type=int, default=None)
    evaluate.add_argument("--ignore-index", type=int, default=255, help="-1 for none")
    evaluate.add_argument("--hungarian", action="store_true", help="match cluster ids to classes first")
    evaluate.add_argument("--protocol", choices=["standard", "pass"], default="standard")
    evaluate.add_argument("--json", action="store_true", help="also print the scores as JSON")
    evaluate.set_defaults(handler=_cmd_eval)

    weight = commands.add_parser("weights", help="list, fetch or verify SAM checkpoints")
    weight.add_argument("action", choices=["list", "fetch", "verify"])
    weight.add_argument("--model", choices=sorted(weights.KNOWN_CHECKPOINTS), default=None)
    weight.add_argument("--checkpoint", type=Path, default=None)
    weight.set_defaults(handler=_cmd_weights)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input ends in one line on stderr and exit code 2."""
    from .image_io import InputError

    args = build_parser().parse_args(argv)
    if args.command == "eval" and args.protocol != "pass" and args.num_classes is None:
        print("uosam eval: --num-classes is required", file=sys.stderr)
        return 2
    try:
        return args.handler(args)
    except (InputError, weights.CheckpointError, ValueError, RuntimeError) as problem:
        print(f"uosam {args.command}: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
