"""The template worker: renders output templates it reads from stdin, one JSON line each, within limits.

``trellis.catalog.rendering`` starts this file as a script of its own (``python -I render_worker.py``),
so that it imports Jinja2 and nothing else of Trellis, and talks to it in JSON lines:
``{"template", "variables"}`` in, ``{"ok": true, "output"}`` or ``{"ok": false, "why"}`` out.
It may grow by the memory given as its first argument; the parent kills it when it takes too long.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

_SANDBOX = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_compiled = functools.lru_cache(maxsize=512)(_SANDBOX.from_string)


def render_one(template: str, variables: dict[str, Any], memory_bytes: int, max_characters: int) -> dict[str, Any]:
    try:
        output = _compiled(template).render(variables)
    except MemoryError:
        return {"ok": False, "why": f"needs more than {memory_bytes // 2**20} MiB"}
    except Exception as exc:  # the template's own error, whatever Jinja2 or Python raised
        return {"ok": False, "why": str(exc) or type(exc).__name__}
    if len(output) > max_characters:
        return {"ok": False, "why": f"renders {len(output):,} characters, more than {max_characters:,}"}
    return {"ok": True, "output": output}


def main() -> None:
    memory_bytes, max_characters = int(sys.argv[1]), int(sys.argv[2])
    with open("/proc/self/statm") as statm:
        held = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (held + memory_bytes, held + memory_bytes))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        answer = render_one(request["template"], request["variables"], memory_bytes, max_characters)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
