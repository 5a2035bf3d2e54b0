"""The node-type registry: what the builder renders inspectors from and the engine validates with."""

from __future__ import annotations

import asyncio

import strawberry

from studio_gql.context import Info
from studio_gql.errors import UserError
from studio_gql.permissions import needs
from studio_gql.schema import mcp
from studio_gql.schema.common import JSON
from studio_shared.definition import validate_definition
from studio_shared.rbac import Permission
from studio_shared.schemas import NodeType as NodeTypeModel


@strawberry.type(description="A kind of workflow node, with the JSON Schemas of its config and output.")
class NodeType:
    type: str = strawberry.field(description="The identifier used in definitions, e.g. `http.request`.")
    title: str
    category: str
    description: str = strawberry.field(description="What the type does, in Markdown (inline code, bold, links).")
    icon: str = strawberry.field(
        description="The type's icon: the `d` of one SVG path on a 24 x 24 grid, drawn as a 2-unit stroke."
    )
    color: str = strawberry.field(description="The colour of the type's category, as #rrggbb.")
    config_schema: JSON = strawberry.field(description="JSON Schema (2020-12) of the node's `config`.")
    output_schema: JSON | None = strawberry.field(description="JSON Schema of the step output.")
    branches: list[str] = strawberry.field(description="Names of the outgoing branches; empty for a plain node.")
    dynamic_branches: str | None = strawberry.field(
        description="When set, the branches come from this config field (e.g. `cases` of a switch) plus `default`."
    )
    trigger: bool = strawberry.field(description="True for the trigger types that start a run.")

    @classmethod
    def from_model(cls, node: NodeTypeModel) -> NodeType:
        return cls(
            type=node.type,
            title=node.title,
            category=node.category,
            description=node.description,
            icon=node.icon,
            color=node.color,
            config_schema=JSON(node.config_schema),
            output_schema=JSON(node.output_schema),
            branches=list(node.branches),
            dynamic_branches=node.dynamic_branches,
            trigger=node.trigger,
        )


@strawberry.type
class RegistryQuery:
    @strawberry.field(description="Every node type, by category then type.", extensions=needs(Permission.WORKFLOW_READ))
    def node_types(self, info: Info) -> list[NodeType]:
        return [NodeType.from_model(node) for node in info.context.state.registry.all()]

    @strawberry.field(description="One node type, or null when unknown.", extensions=needs(Permission.WORKFLOW_READ))
    def node_type(self, info: Info, type: str) -> NodeType | None:
        node = info.context.state.registry.get(type)
        return NodeType.from_model(node) if node else None

    @strawberry.field(
        description="Check a definition without saving it: every problem, with its path and severity; valid when "
        "none is an ERROR (WARNINGs block nothing). Templates are parsed and their references checked.",
        extensions=needs(Permission.WORKFLOW_READ),
    )
    async def validate_definition(self, info: Info, definition: JSON) -> list[UserError]:
        # Pure CPU (a 1,000-node draft's templates take a few hundred ms cold): off the event loop.
        problems = await asyncio.to_thread(validate_definition, definition, info.context.state.registry)
        return [UserError.from_problem(p) for p in problems] + await mcp.definition_warnings(info, definition)
