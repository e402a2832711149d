"""Run the desktop app from a checkout: ``python main.py --demo`` (same as ``uosam-gui``)."""

import sys

from uosam_gui.app import main

if __name__ == "__main__":
    sys.exit(main())
