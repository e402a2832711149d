"""uosam_gui: the PySide6 + pyqtgraph desktop app to inspect, fix and export UO-SAM refined labels.

Qt-free parts (document, session, export, classes) hold the state; the Qt parts only show it.
"""
