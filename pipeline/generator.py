"""The research generator under its historical import path (CLI, bench, tests).

New code picks a stack's generator with `pipeline.generators.generator_class(stack)`.
"""

from pipeline.generators.sdxl_faceid import (
    SCHEDULERS,
    GeneratorConfig,
    PortraitGenerator,
    tiny_generator_config,
)

__all__ = ["SCHEDULERS", "GeneratorConfig", "PortraitGenerator", "tiny_generator_config"]
