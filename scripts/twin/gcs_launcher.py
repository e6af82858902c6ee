"""Start gcp-storage-emulator for the twin (runs with the emulators' interpreter, ``.venv-twin``).

One adjustment before handing over to ``python -m gcp_storage_emulator``: objects whose name
ends in ``/`` (folder placeholders, which Mage's GCSStorage writes for every block-output
"directory" of ``remote_variables_dir``) coexist with the objects below them, as in real GCS.
The emulator keeps content at a disk path equal to the name, so ``a/b/`` and ``a/b/c`` collide
(the directory ``a/b`` vs the file ``a/b``); here a placeholder's content lives inside its
folder instead. Object listings come from the emulator's metadata and are unchanged.
"""

from __future__ import annotations

import runpy
import sys

#: Where a folder placeholder's bytes are kept on disk, inside the folder itself.
FOLDER_OBJECT = ".gcs-folder-object"


def patch_folder_objects() -> None:
    from gcp_storage_emulator import storage

    original = storage.Storage._object_path

    def _object_path(self, bucket_name: str, file_name: str) -> str:
        path = original(self, bucket_name, file_name)
        return path + FOLDER_OBJECT if path.endswith("/") else path

    storage.Storage._object_path = _object_path


if __name__ == "__main__":
    patch_folder_objects()
    sys.argv = ["gcp_storage_emulator", *sys.argv[1:]]
    runpy.run_module("gcp_storage_emulator", run_name="__main__", alter_sys=True)
