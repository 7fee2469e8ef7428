"""``python -m scautogenome``: the ``scautogenome`` command."""

from .cli import main

raise SystemExit(main())
