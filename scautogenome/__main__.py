"""``python -m scautogenome``: the ``scautogenome`` command."""

from .cli import main

if __name__ == "__main__":  # not on an import (a documentation tool walking the package)
    raise SystemExit(main())
