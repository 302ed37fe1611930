"""Every tool the same way: strict arguments, readable errors, declared effects.

A tool function becomes a `StrictTool` (see `build`), so a new tool gets all of this
without doing anything:

- arguments are validated strictly: no bool or string to int (`top_k=true`, `top_k="5"`),
  no JSON-in-a-string, and argument names the tool does not have are refused by name
  (the schema says `additionalProperties: false`);
- a refusal is one or two sentences ("top_k must be between 1 and 100; got 0"), and the
  tool's own ToolError messages reach the client without the SDK's "Error executing tool"
  prefix (a crash keeps the SDK's generic message, so nothing internal leaks);
- its MCP annotations come from `@effects(...)` next to its definition. A tool without it
  gets the specification's cautious defaults (may destroy, not idempotent, open world);
- each call's outcome goes to the client's log (client_log: refusals at "warning").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import ConfigDict, ValidationError

from mcp_server import client_log, schema_form
from mcp_server.argument_errors import describe

F = TypeVar("F", bound=Callable[..., Any])
ANNOTATIONS = "__mcp_tool_annotations__"


def effects(
    *, read_only: bool, idempotent: bool, destructive: bool = False, open_world: bool = False
):
    """Declare what a tool does to its world (the MCP tool annotations), truthfully.

    read_only: changes nothing; idempotent: calling again with the same arguments has no
    further effect; destructive: may overwrite or remove what is there (not only add);
    open_world: reaches entities outside this server's own memory (the web, other people).
    """

    def mark(function: F) -> F:
        setattr(
            function,
            ANNOTATIONS,
            ToolAnnotations(
                read_only_hint=read_only,
                idempotent_hint=idempotent,
                destructive_hint=destructive,
                open_world_hint=open_world,
            ),
        )
        return function

    return mark


class StrictArguments(FuncMetadata):
    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        # The published schema is the contract: no coercion and no pre-parsing of strings.
        model = self.arg_model.model_validate(arguments_to_validate, strict=True)
        return model.model_dump_one_level()


def _refuse_unknown_names(model: type[ArgModelBase]) -> type[ArgModelBase]:
    class Arguments(model):
        model_config = ConfigDict(extra="forbid", title=model.__name__)

    return Arguments


class StrictTool(Tool):
    @classmethod
    def of(cls, function: Callable[..., Any]) -> StrictTool:
        tool = cls.from_function(function, annotations=getattr(function, ANNOTATIONS, None))
        loose = tool.fn_metadata
        arguments = _refuse_unknown_names(loose.arg_model)
        tool.fn_metadata = StrictArguments(
            arg_model=arguments,
            output_schema=schema_form.compact(loose.output_schema),  # faster to check
            output_model=loose.output_model,
            wrap_output=loose.wrap_output,
        )
        tool.parameters = arguments.model_json_schema(by_alias=True)
        return tool

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False):
        started = time.monotonic()
        try:
            result = await self._run(arguments, context, convert_result)
        except ToolError as error:
            await client_log.send(context, "warning", f"{self.name} refused: {error}")
            raise
        elapsed_ms = (time.monotonic() - started) * 1000
        await client_log.send(context, "debug", f"{self.name} answered in {elapsed_ms:.0f} ms")
        return result

    async def _run(self, arguments: dict[str, Any], context: Any, convert_result: bool):
        try:
            return await super().run(arguments, context, convert_result=convert_result)
        except UnexpectedToolError:
            raise
        except ToolError as error:
            cause = error.__cause__
            if isinstance(cause, ValidationError):
                # Raised from the ValidationError so the SDK logs field names, not values.
                raise ToolError(describe(cause, self.parameters)) from cause
            if isinstance(cause, ToolError | ResourceError):
                raise ToolError(str(cause)) from cause
            raise


def build(
    functions: Iterable[Callable[..., Any]], notes: dict[str, str] | None = None
) -> list[Tool]:
    """The tools, each description followed by its note (what it cannot do here), if any."""
    tools = [StrictTool.of(function) for function in functions]
    for tool in tools:
        if note := (notes or {}).get(tool.name):
            tool.description = f"{tool.description.rstrip()}\n\n{note}"
    return tools
