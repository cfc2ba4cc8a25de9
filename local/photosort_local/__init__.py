"""photosort's local-only code: the embedded AWS stack (moto) and the ``photosort`` CLI.

Nothing here ships to Lambda. The adapters that fill gaps in moto are pinned to the moto version they are
tested against (:data:`MOTO_VERSION`); :func:`photosort_local.moto_patches.install` refuses any other.
"""

MOTO_VERSION = "5.2.5"
