"""The ``uosam`` command: refine folders, evaluate them, manage checkpoints."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from . import weights

EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by it


def _bounded(kind: type, low: float | None = None, high: float | None = None, *, low_open: bool = False):
    """An argparse type: ``kind`` within [low, high] (``low_open``: strictly above ``low``)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an int' if kind is int else 'a number'}, got {text!r}") \
                from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            lower = "" if low is None else f"{'>' if low_open else '>='} {low}"
            upper = "" if high is None else f"<= {high}"
            raise argparse.ArgumentTypeError(f"must be {' and '.join(x for x in (lower, upper) if x)}, got {text}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage block is for ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _folder(text: str) -> Path:
    """An argparse type: a non-empty path."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty path")
    return Path(text)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from .options import Section, add_arguments  # loads torch (model types): only once a command runs

    add_arguments(parser, [Section.MODEL])  # --model, --checkpoint, --device (uosam_core/options.py)
    parser.add_argument("--embedding-cache", type=_folder, default=None,
                        help="folder for an on-disk embedding cache (default: none, in memory only)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("uosam")
    except PackageNotFoundError:
        return "(not installed)"


def _cmd_refine(args: argparse.Namespace) -> int:
    from .batch import run_folder
    from .embedding_cache import EmbeddingCache
    from .options import check_label_ids, settings_from_args
    from .pairing import check_folders

    settings = settings_from_args(args)
    config = settings.config
    check_label_ids(settings, args.label_encoding)
    check_folders(args.images, args.labels, args.out)
    cache_bytes = int(args.embedding_cache_gb * 1024**3)
    cache = EmbeddingCache(disk_dir=args.embedding_cache, max_disk_bytes=cache_bytes)  # a file: exit 2 now
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as problem:
        raise ValueError(f"{args.out}: cannot create the output folder ({problem.strerror or problem})") from None
    try:
        (args.out / ".uosam").mkdir(exist_ok=True)
        probe = args.out / f".uosam-write-test-{os.getpid()}"  # an existing folder may refuse new files
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as problem:
        raise ValueError(f"{args.out}: cannot write in the output folder ({problem.strerror or problem})") from None
    options = {"label_encoding": args.label_encoding, "num_classes": args.num_classes, "overwrite": args.overwrite,
               "progress": not args.quiet, "threads": args.threads}
    if args.ray is not None:
        from .ray_executor import RayExecutor, WorkerSpec

        spec = WorkerSpec(config, args.model, None if args.checkpoint is None else str(args.checkpoint), args.device,
                          None if args.embedding_cache is None else str(args.embedding_cache.resolve()), cache_bytes,
                          args.threads or _default_threads())
        executor = RayExecutor(spec, address=args.ray, workers=args.workers, gpus_per_worker=args.gpus_per_worker)
        summary = run_folder(None, args.images, args.labels, args.out, executor=executor, config=config, **options)
    else:
        from .engine import SamEngine
        from .pipeline import Refiner

        engine = SamEngine.load(args.model, args.checkpoint, args.device, cache=cache)
        summary = run_folder(Refiner(engine, config), args.images, args.labels, args.out, **options)
        unused = cache.too_small()
        if unused:
            print(f"warning: {unused}", file=sys.stderr)
    counts = summary.to_dict()["counts"]
    if summary.stopped:
        print(f"uosam refine: stopped: {summary.stopped}; refined {counts['written']} this run", file=sys.stderr)
        return 2
    if summary.interrupted:
        how = "terminated (SIGTERM)" if summary.terminated else "interrupted"
        print(f"uosam refine: {how}; refined {counts['written']} this run, records and summary kept in "
              f"{args.out} (run again to resume)", file=sys.stderr)
        return EXIT_TERMINATED if summary.terminated else EXIT_INTERRUPTED
    if not any(counts.values()) and not summary.busy:
        print(f"uosam refine: no image/label pairs found in {args.images} and {args.labels} (images and labels pair "
              "by file name stem)", file=sys.stderr)
        return EXIT_SKIPPED
    busy = f", busy {len(summary.busy)} (another live process is refining them)" if summary.busy else ""
    again = len({item["key"] for item in summary.redone} & {record["key"] for record in summary.written})
    kept = sum(bool(record.get("stats", {}).get("baseline_kept")) for record in summary.written)
    notes = [f"{again} of them again"] if again else []
    reused = sum(bool(record.get("stats", {}).get("from_store")) for record in summary.written)
    if reused:
        notes.append(f"{reused} of them from their stored refinement, without running SAM")
    if kept:
        notes.append(f"{kept} of them kept the baseline: refining would not put the edges on clearly stronger image "
                     "edges; --no-baseline-check "
                     "refines them too")
    noted = f" ({'; '.join(notes)})" if notes else ""
    print(f"refined {counts['written']}{noted}, already done {counts['resumed']}, "
          f"skipped {counts['skipped']}{busy} in {summary.seconds:.1f} s -> {args.out}")
    return EXIT_SKIPPED if summary.skipped else 0


def _default_threads() -> int:
    import torch

    return torch.get_num_threads()


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_folders

    if args.protocol != "pass" and args.num_classes < 1:
        print(f"uosam eval: --num-classes must be at least 1 (got {args.num_classes})", file=sys.stderr)
        return 2
    ignore = None if args.ignore_index < 0 else args.ignore_index
    report = evaluate_folders(args.pred, args.gt, num_classes=args.num_classes, ignore_index=ignore,
                              hungarian=args.hungarian, protocol=args.protocol)
    for line in report.skipped:
        print(f"skipped {line}", file=sys.stderr)
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(report.line)
    if args.json:
        print(json.dumps(report.values))
    return EXIT_SKIPPED if report.skipped else 0


def _cmd_weights(args: argparse.Namespace) -> int:
    if args.action == "list":
        from .models import MODEL_SPECS

        print(f"{'model':6} {'family':10} {'file':24} {'bytes':>13} {'sha256':64} cache")
        for model_type, entry in weights.KNOWN_CHECKPOINTS.items():
            path = weights.cached_path(model_type)
            state = f"cached {path}" if path.is_file() else "not cached"
            default = " (default)" if model_type == weights.DEFAULT_MODEL_TYPE else ""
            size = f"{entry.size_bytes:,}" if entry.size_bytes is not None else "?"
            print(f"{model_type:6} {entry.family:10} {entry.filename:24} {size:>13} {entry.sha256} {state}{default}")
        others = [name for name in MODEL_SPECS if name not in weights.KNOWN_CHECKPOINTS]
        print(f"also loadable with --checkpoint FILE (type inferred, sha256 recorded): {', '.join(others)}")
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
    from .options import Section, add_arguments

    parser = _Parser(prog="uosam", description="Refine unsupervised segmentation labels with SAM.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    refine = commands.add_parser("refine", help="refine a folder of label maps")
    refine.add_argument("images", type=Path, help="folder of images (jpg, png, ...; searched recursively)")
    refine.add_argument("labels", type=Path, help="folder of baseline label maps: 8-bit PNG class ids, paired with "
                        "the images by relative path or file name stem")
    refine.add_argument("out", type=Path, help="output folder (created; never an input folder): refined label "
                        "PNGs, records, summary, stored results for the app")
    _add_model_options(refine)
    refine.add_argument("--num-classes", type=_bounded(int, 1), default=None,
                        help="refuse labels with ids >= this (default: no check)")
    refine.add_argument("--label-encoding", choices=["ids", "pass"], default="ids",
                        help="ids: 8-bit PNG ids; pass: RGB PNG with class = R + 256*G (ImageNet-S)")
    refine.add_argument("--overwrite", action="store_true", help="redo outputs that already exist, refining every "
                        "image again (a stored refinement is not reused)")
    refine.add_argument("--quiet", action="store_true", help="no progress bar")
    refine.add_argument("--embedding-cache-gb", type=_bounded(float, 0.0, low_open=True), default=4.0,
                        help="size limit of the --embedding-cache folder; least recently used entries go first "
                             "(default: 4)")
    refine.add_argument("--threads", type=_bounded(int, 1), default=None,
                        help="torch CPU threads for refinement, the same in every Ray worker (default: torch's)")
    refine.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run on Ray: no ADDRESS starts a local cluster, 'auto' joins the running one "
                             "(needs pip install 'uosam[ray]'; folders must be visible to every node)")
    refine.add_argument("--workers", type=_bounded(int, 1), default=2, help="Ray workers (one model each; default: 2)")
    refine.add_argument("--gpus-per-worker", type=_bounded(float, 0.0), default=0.0,
                        help="GPUs per Ray worker (e.g. 1, or 0.5; default: 0)")
    # one definition: uosam_core/options.py
    add_arguments(refine, [Section.LRO, Section.GRO, Section.PRECISION, Section.LABELS])
    refine.set_defaults(handler=_cmd_refine)

    evaluate = commands.add_parser("eval", help="score predicted label maps against ground truth")
    evaluate.add_argument("pred", type=Path, help="folder (or file) of predicted label PNGs")
    evaluate.add_argument("gt", type=Path, help="folder (or file) of ground-truth label PNGs, paired with the "
                          "predictions by relative path")
    evaluate.add_argument("--num-classes", type=int, default=None,
                          help="number of classes N, ids 0..N-1 (required unless --protocol pass); other ids "
                               "count as errors")
    evaluate.add_argument("--ignore-index", type=_bounded(int, -1, 255), default=255,
                          help="ground-truth id left out of the scores (-1 for none); a prediction of it is an error "
                               "(default: 255)")
    evaluate.add_argument("--hungarian", action="store_true",
                          help="match predicted cluster ids to classes first (one matching over all images)")
    evaluate.add_argument("--protocol", choices=["standard", "pass"], default="standard",
                          help="standard: one confusion matrix over all images; pass: ImageNet-S50 as PASS scores "
                               "it (R + 256*G ids, per-image matching; default: standard)")
    evaluate.add_argument("--json", action="store_true", help="also print the scores as JSON")
    evaluate.set_defaults(handler=_cmd_eval)

    weight = commands.add_parser("weights", help="list, fetch or verify SAM checkpoints")
    weight.add_argument("action", choices=["list", "fetch", "verify"],
                        help="list: known checkpoints (hash, size, family, cached or not); fetch: download and "
                             "hash-check one into the user cache (the default model works offline after it); "
                             "verify: hash-check a checkpoint file")
    weight.add_argument("--model", choices=sorted(weights.KNOWN_CHECKPOINTS), default=None,
                        help=f"which known checkpoint (default: {weights.DEFAULT_MODEL_TYPE}, the default model)")
    weight.add_argument("--checkpoint", type=Path, default=None,
                        help="fetch: where to put it; verify: the file to check (default: the cached copy)")
    weight.set_defaults(handler=_cmd_weights)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input ends in one line on stderr and exit code 2, Ctrl-C in exit code 130."""
    try:
        return _run(argv)
    except KeyboardInterrupt:  # while the libraries load, before a command runs
        print("uosam: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(argv: list[str] | None) -> int:
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
    except KeyboardInterrupt:
        print(f"uosam {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
