"""The ``taxation-soap`` plugin descriptor: config model + build."""

from __future__ import annotations

from functools import partial

from connectors.runtime.plugin import Plugin, PluginContext, SourceParts
from connectors.taxation.config import TaxationConfig
from connectors.taxation.mapping import map_case
from connectors.taxation.task import TaxationTask


def build(config: TaxationConfig, ctx: PluginContext) -> SourceParts:
    return SourceParts(
        task=TaxationTask(config),
        mapper=partial(map_case, department_code=config.department_code),
        identifier_fields=("nsrsbh", "xzqh", "sxbm", "ssqdbm", "swjgdm"),
    )


PLUGIN = Plugin(
    name="taxation-soap",
    kind="source",
    description="税务 penalty cases from the SOAP PenaltyQueryService (WSDL via zeep), paged by sequence number.",
    config_model=TaxationConfig,
    build=build,
)
