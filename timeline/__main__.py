"""``python -m timeline``."""

from timeline.entry import main

main()
