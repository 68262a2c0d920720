"""sphinx-gallery helpers: each example's command-line arguments in the docs build.

Examples that write files get a directory under the build's temporary folder, so a docs
build never writes into the source tree.
"""
import os
import tempfile
from pathlib import Path

#: examples that take ``--out DIR`` (the rest are run without arguments)
OUT_FLAG = {"action_principle", "brayton_moser", "training_dae", "stability_bound"}
#: examples that take the output directory as their first positional argument
OUT_POSITIONAL = {"train_mnist"}


def reset_argv(gallery_conf, script_vars):
    """``sys.argv[1:]`` for one example."""
    name = Path(script_vars["src_file"]).stem
    out = os.path.join(tempfile.gettempdir(), "refimpl-docs-gallery", name)
    if name in OUT_FLAG:
        return ["--out", out]
    if name in OUT_POSITIONAL:
        return [out]
    return []
