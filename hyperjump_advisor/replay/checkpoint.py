"""The advisor's NNI checkpoint folder during a replay run.

Checkpointing: as in a real experiment, the advisor gets an NNI checkpoint folder
(``NNI_CHECKPOINT_DIRECTORY``, what ``get_checkpoint_path()`` reads): a temporary folder per
run, removed afterwards (``SimConfig.checkpoint``, on by default; ``--no-checkpoint`` turns it
off). This project's advisor writes its state there after every command, which is part of its
measured advisor time. The run's ``checkpoint`` entry lists the files it held at the end.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Optional

CHECKPOINT_ENV = "NNI_CHECKPOINT_DIRECTORY"  # read by MsgDispatcherBase.get_checkpoint_path (nni.recoverable)


@contextlib.contextmanager
def advisor_checkpoint_folder(enabled: bool):
    """As in a real experiment, NNI gives the advisor a checkpoint folder (``NNI_CHECKPOINT_DIRECTORY``,
    read at every ``get_checkpoint_path()`` call). On: a fresh temporary folder for this run, removed
    afterwards. Off: the variable is unset for the run. The previous value is restored either way."""
    saved = os.environ.get(CHECKPOINT_ENV)
    folder = tempfile.mkdtemp(prefix="hyperjump-replay-ckpt-") if enabled else None
    if folder:
        os.environ[CHECKPOINT_ENV] = folder
    else:
        os.environ.pop(CHECKPOINT_ENV, None)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop(CHECKPOINT_ENV, None)
        else:
            os.environ[CHECKPOINT_ENV] = saved
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def folder_listing(folder: Optional[str]) -> Optional[dict]:
    if folder is None:
        return None
    files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in files if os.path.isfile(os.path.join(folder, f)))
    return {"folder": folder, "files": files, "bytes": size}
