"""Drivers turn a definition and a context into outputs.

``static`` gives its outputs as written (a thing that already exists, legacy
included); ``template`` renders each output from params and context in
Jinja2's sandbox, in a worker process within limits (``rendering``). Secret outputs are references such as
``${secret:vault/path#key}``, never values.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from trellis.catalog.matching import Context
from trellis.catalog.models import DefinitionSpec, ResourceTypeSpec
from trellis.catalog.rendering import RENDERER, RenderError

SECRET_REFERENCE = re.compile(r"^\$\{secret:(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9_./-]*(#[A-Za-z0-9_.-]+)?\}$")
"""``${secret:STORE/PATH#KEY}``; a path that starts at the root or climbs with ``..`` is no reference."""


class DriverError(ValueError):
    """A definition its driver cannot use; the message names the output."""


class Driver(Protocol):
    """Renders a definition's outputs for one context."""

    def check(self, spec: DefinitionSpec, rtype: ResourceTypeSpec) -> None:
        """Raise DriverError when the definition cannot work, before it is stored."""

    def outputs(self, spec: DefinitionSpec, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        """The outputs for ``ctx``; ``params`` are the definition's merged with the workload's."""


def is_secret_reference(value: Any) -> bool:
    return isinstance(value, str) and bool(SECRET_REFERENCE.match(value))


def _check_outputs_declared(spec: DefinitionSpec, rtype: ResourceTypeSpec) -> None:
    missing = sorted(set(rtype.outputs) - set(spec.outputs))
    if missing:
        raise DriverError(f"outputs {', '.join(missing)} are required by type {spec.type}")
    unknown = sorted(set(spec.outputs) - set(rtype.outputs))
    if unknown and rtype.outputs:
        raise DriverError(f"outputs {', '.join(unknown)} are not declared by type {spec.type}")


class StaticDriver:
    def check(self, spec: DefinitionSpec, rtype: ResourceTypeSpec) -> None:
        _check_outputs_declared(spec, rtype)
        for name, output in rtype.outputs.items():
            if output.secret and not is_secret_reference(spec.outputs.get(name)):
                raise DriverError(
                    f"output {name} is secret: give a reference such as ${{secret:vault/path#key}}, not a value"
                )

    def outputs(self, spec: DefinitionSpec, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        return dict(spec.outputs)


_SANDBOX = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateDriver:
    def check(self, spec: DefinitionSpec, rtype: ResourceTypeSpec) -> None:
        _check_outputs_declared(spec, rtype)
        for name, template in spec.outputs.items():
            try:
                _SANDBOX.parse(str(template))
            except TemplateError as exc:
                raise DriverError(f"output {name} is not a valid template: {exc}") from None
            if rtype.outputs.get(name) and rtype.outputs[name].secret and "${secret:" not in str(template):
                raise DriverError(f"output {name} is secret: its template must render a ${{secret:...}} reference")

    def outputs(self, spec: DefinitionSpec, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        variables = {
            "params": params,
            "context": {"app": ctx.app_id, "env": ctx.env_id, "env_type": ctx.env_type, "workload": ctx.workload,
                        "res_id": ctx.res_id},
        }  # fmt: skip
        rendered = {}
        for name, template in spec.outputs.items():
            try:
                rendered[name] = RENDERER.render(str(template), variables)
            except RenderError as exc:
                raise DriverError(f"output {name} cannot be rendered: {exc}") from None
        return rendered


DRIVERS: dict[str, Driver] = {"static": StaticDriver(), "template": TemplateDriver()}
"""One driver per ``spec.driver``; the built-in ones go through the same seam an extension would."""


def secret_outputs_are_references(outputs: dict[str, Any], rtype: ResourceTypeSpec) -> None:
    """Refuse rendered outputs that would put a secret in clear text."""
    for name, output in rtype.outputs.items():
        if output.secret and name in outputs and not is_secret_reference(outputs[name]):
            raise DriverError(f"output {name} is secret but did not render to a ${{secret:...}} reference")
