"""``uosam-gui``: command line entry of the desktop app (also ``python main.py``)."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from platformdirs import user_data_dir

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo"


def build_parser() -> argparse.ArgumentParser:
    """The command line of uosam-gui."""
    parser = argparse.ArgumentParser(prog="uosam-gui", description="Inspect, fix and export UO-SAM refined labels.")
    parser.add_argument("images", nargs="?", type=Path, help="folder of images")
    parser.add_argument("labels", nargs="?", type=Path, help="folder of baseline label maps (PNG class ids)")
    parser.add_argument("--out", type=Path, help="output folder for refined labels and the session "
                                                 "(default: LABELS-uosam beside the labels folder)")
    parser.add_argument("--session", type=Path, help="resume a session file (uosam-session.json)")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo (3 COCO-Stuff images, STEGO labels)")
    parser.add_argument("--classes", type=Path, help="class names / colours: classes.json, a .txt list (one name "
                                                     "per line) or a palette-mode label PNG")
    parser.add_argument("--gt", type=Path, metavar="DIR", help="ground-truth label folder: per-image and total mIoU "
                                                               "of baseline and current labels, as uosam eval")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="class count for --gt scores (default: the classes file's, else inferred from the GT)")
    parser.add_argument("--label-encoding", choices=("ids", "pass"), default="ids",
                        help="ids: 8-bit L/P PNGs; pass: ImageNet-S RGB labels, class = R + 256*G")
    parser.add_argument("--ignore-index", type=int, default=None,
                        help="label id never refined nor painted (default 255; 1000 with --label-encoding pass)")
    parser.add_argument("--profile", choices=("fast", "paper", "off"), default="fast", help="GRO profile")
    from uosam_core.models import MODEL_SPECS

    parser.add_argument("--model", choices=list(MODEL_SPECS), default=None, metavar="TYPE",
                        help="SAM model type (default: inferred from the checkpoint, MobileSAM vit_t)")
    parser.add_argument("--checkpoint", type=Path, help="SAM-family checkpoint file (default: cached MobileSAM)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--screenshot", type=Path, help="refine the first image, save a PNG of the window, exit")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds --screenshot waits for the refinement")
    return parser


def _dataset(args: argparse.Namespace) -> tuple[Path, Path, Path] | None:
    if args.demo:
        out = args.out or Path(user_data_dir("uosam")) / "demo-session"
        return DEMO / "images", DEMO / "labels", out
    if args.images and args.labels:
        labels = args.labels.resolve()
        return args.images, args.labels, args.out or labels.with_name(labels.name + "-uosam")
    return None


def main(argv: list[str] | None = None) -> int:
    """Start the app; returns the exit code."""
    args = build_parser().parse_args(argv)
    if bool(args.images) != bool(args.labels):
        print("uosam-gui: give both IMAGES and LABELS folders (or --demo)", file=sys.stderr)
        return 2
    early = _early_problem(args)
    if early:
        print(f"uosam-gui: {early}", file=sys.stderr)
        return 2
    from .session import writable_problem

    dataset = _dataset(args)
    problem = writable_problem(dataset[2]) if dataset and not args.session else None
    if problem:
        print(f"uosam-gui: {problem}", file=sys.stderr)
        if args.screenshot:
            return 1  # nothing to show: no session can be kept in that folder
    from uosam_core import allocator

    allocator.keep_freed_memory()  # before Qt or the workers start threads (uosam_core/allocator.py)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from uosam_core.config import GroConfig, RefineConfig

    from .controller import RefineController
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("uosam-gui")
    app.setOrganizationName("uosam")
    ignore = args.ignore_index if args.ignore_index is not None else (1000 if args.label_encoding == "pass" else 255)
    config = RefineConfig(ignore_ids=(ignore,), gro=GroConfig(profile=args.profile))
    controller = RefineController(args.model, args.checkpoint, args.device, config)
    window = MainWindow(controller)

    def report_uncaught(kind, value, trace) -> None:
        traceback.print_exception(kind, value, trace)
        window.notify(f"internal error: {kind.__name__}: {value}", error=True)

    sys.excepthook = report_uncaught
    try:
        window.show()
        controller.load_model()
        opened = True
        if args.session:
            opened = window.open_session_file(args.session)
        elif dataset:
            # an unwritable output folder is refused by Session.open: the window says so (and may offer
            # another folder) instead of the app aborting
            opened = window.open_dataset(*dataset, classes_file=args.classes, label_encoding=args.label_encoding)
        if opened and args.gt:
            opened = window.gt.open(args.gt, args.num_classes)
        if args.screenshot:
            if not opened:
                print(f"uosam-gui: {window.messages[-1] if window.messages else 'nothing opened'}",
                      file=sys.stderr)
                window.close()
                return 1
            return _screenshot(app, window, args.screenshot, args.timeout, QTimer)
        return app.exec()
    finally:
        controller.shutdown()  # never leave the worker threads running (Qt aborts on that)


def _early_problem(args: argparse.Namespace) -> str | None:
    """One line when --classes, --gt or --num-classes cannot be used (checked before the window opens)."""
    from uosam_core.image_io import InputError

    from .classes import read_class_file

    if args.num_classes is not None and args.num_classes < 1:
        return f"--num-classes must be at least 1, got {args.num_classes}"
    if args.gt is not None and not args.gt.is_dir():
        return f"{args.gt}: ground-truth folder not found"
    if args.classes is not None:
        try:
            read_class_file(args.classes)
        except InputError as problem:
            return str(problem)
    return None


def _screenshot(app, window, target: Path, timeout: float, timer_class) -> int:
    """Wait for the first document, select its largest refined object, grab the window, quit."""
    status = {"code": 1}

    def grab() -> None:
        document = window.document
        if document is None:
            return
        poll.stop()
        if document.objects:
            refined = [o.index for o in document.objects if o.uses_refined] or [0]
            window.object_panel.select(refined[0])
        window.outline_check.setChecked(False)
        app.processEvents()
        target.parent.mkdir(parents=True, exist_ok=True)
        status["code"] = 0 if window.grab().save(str(target)) else 1
        print(f"screenshot written to {target}" if status["code"] == 0 else f"could not write {target}")
        window.close()
        app.quit()

    def give_up() -> None:
        print(f"uosam-gui: no refined image after {timeout:.0f} s; last message: "
              f"{window.messages[-1] if window.messages else '-'}", file=sys.stderr)
        window.close()
        app.quit()

    poll = timer_class(interval=200)
    poll.timeout.connect(grab)
    poll.start()
    timer_class.singleShot(int(timeout * 1000), give_up)
    app.exec()
    return status["code"]
