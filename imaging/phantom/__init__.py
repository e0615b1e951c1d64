"""Built-in synthetic abdominal CT phantom: the embedded demo case and the test input of the whole product.

:func:`generate_abdomen` builds the volume and its ground-truth labels; :func:`write_ct_series` and
:func:`write_phantom_series` write it as a DICOM CT series.
"""

from imaging.phantom.anatomy import (
    HU_AIR,
    HU_BLOOD_CONTRAST,
    HU_BONE_CANCELLOUS,
    HU_BONE_CORTICAL,
    HU_BOWEL_GAS,
    HU_FAT,
    HU_KIDNEY,
    HU_LIVER,
    HU_MUSCLE,
    HU_SKIN,
    HU_SPLEEN,
    HU_TUMOUR,
    LABEL_NAMES,
    NOISE_STD_HU,
    AbdomenPhantom,
    PhantomCancelled,
    generate_abdomen,
)
from imaging.phantom.dicom_writer import write_ct_series, write_phantom_series

__all__ = [
    "HU_AIR",
    "HU_BLOOD_CONTRAST",
    "HU_BONE_CANCELLOUS",
    "HU_BONE_CORTICAL",
    "HU_BOWEL_GAS",
    "HU_FAT",
    "HU_KIDNEY",
    "HU_LIVER",
    "HU_MUSCLE",
    "HU_SKIN",
    "HU_SPLEEN",
    "HU_TUMOUR",
    "LABEL_NAMES",
    "NOISE_STD_HU",
    "AbdomenPhantom",
    "PhantomCancelled",
    "generate_abdomen",
    "write_ct_series",
    "write_phantom_series",
]
