"""``python -m controller`` is ``dgi``."""

from controller.cli.entry import main

main()
