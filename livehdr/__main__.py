"""``python -m livehdr``: the same as the ``livehdr`` command."""
import sys

from livehdr.cli import main

sys.exit(main())
