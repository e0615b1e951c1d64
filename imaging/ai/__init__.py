"""AI segmentation with small pretrained ONNX models (LiteMedSAM box prompts, brainchop MeshNet brain labels).

The models are not part of the repository: :mod:`imaging.ai.manifests` finds them (``$SURGITWIN_MODELS`` or
``<repo>/../shared/data/models``) together with the JSON manifest that states each model's exact pre- and
post-processing.  :mod:`imaging.ai.runner` wraps onnxruntime sessions (lazy, CPU by default, a GPU provider when one
is installed).  Errors are :class:`ModelError` (an ``OSError``: a model is missing or corrupt) or
:class:`AIInputError` (a ``ValueError``: the image or prompt does not suit the model).
"""

from imaging.ai.manifests import AIInputError, ModelError, ModelManifest, load_manifest, models_dir

__all__ = ["AIInputError", "ModelError", "ModelManifest", "load_manifest", "models_dir"]
