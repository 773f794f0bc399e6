from .build import MODEL_REGISTRY, build_model
from .model import PromptedSegmentationModel
