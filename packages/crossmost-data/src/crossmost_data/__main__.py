"""``python -m crossmost_data``: the ``crossmost-data`` command line."""

from crossmost_data.cli import main

raise SystemExit(main())
