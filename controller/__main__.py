"""``python -m controller`` is ``dgi``."""

from controller.entry import main

main()
