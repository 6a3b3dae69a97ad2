"""``python -m controller`` is ``dgi``."""

from controller.cli import main

main()
