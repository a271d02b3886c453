#!/usr/bin/env python3
"""Thin entry point: see `python run_live.py --help`."""
import sys

from livehdr.cli import main

if __name__ == "__main__":
    sys.exit(main())
