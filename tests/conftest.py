"""Test-wide settings: nothing a test runs may write into the user's home."""
import os
import shutil
import tempfile

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir():
    """livehdr's caches (the demo, livehdr/io/demo_cache.py) go to a temporary folder for the whole session;
    subprocesses inherit it through the environment."""
    folder = tempfile.mkdtemp(prefix="livehdr-test-cache-")
    old = os.environ.get("LIVEHDR_CACHE_DIR")
    os.environ["LIVEHDR_CACHE_DIR"] = folder
    yield folder
    if old is None:
        os.environ.pop("LIVEHDR_CACHE_DIR", None)
    else:
        os.environ["LIVEHDR_CACHE_DIR"] = old
    shutil.rmtree(folder, ignore_errors=True)
