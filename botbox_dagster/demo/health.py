"""Is the ``dagster dev`` stack ``botbox serve`` runs still doing its job?

``dagster dev`` exits when its webserver or daemon process dies (it polls them every 5 s), and
restarts its proxy code server, but not the code server behind the proxy (``dagster api grpc``,
the process that loads the definitions and starts the runs): with that one gone, the UI and the
daemon report the code location as unreachable, and no schedule or sensor ticks again, while
every process ``botbox serve`` started still runs. So the supervisor asks the webserver, over
its GraphQL API, what an operator would look at: does it answer, does the code location load,
and have the required daemons sent a heartbeat lately. See the README, "Guarantees".

Standard library only: the supervisor imports no Dagster.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from botbox_dagster.adapters.supervision import find_processes

# Daemons heartbeat every 30 s; Dagster calls one unhealthy only after 30 minutes without one.
STALE_HEARTBEAT_SECONDS = 180.0
# What each process of ``dagster dev`` is called in the operator's line, by its command line.
_COMPONENTS = (
    ("-m dagster_webserver", "webserver"),
    ("-m dagster._daemon run", "daemon"),
    ("dagster code-server start", "code server proxy"),
    ("dagster api grpc", "code server"),
)

_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
  instance {
    daemonHealth { allDaemonStatuses { daemonType required healthy lastHeartbeatTime } }
  }
}
"""


def stack_problem(host: str, port: int, timeout: float = 20.0) -> str | None:
    """What is wrong with the stack behind the webserver at ``host:port``, None if nothing.

    The answer is one line an operator can read (``code location botbox: Could not reach user
    code server``)."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    request = urllib.request.Request(
        f"http://{host}:{port}/graphql",
        data=json.dumps({"query": _QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except (OSError, ValueError) as exc:  # refused, timed out, HTTP error, not JSON
        return f"the webserver does not answer ({type(exc).__name__}: {exc})"
    return _problem(body.get("data") or {}, time.time())


def _problem(data: dict[str, Any], now: float) -> str | None:
    problems = []
    workspace = data.get("workspaceOrError") or {}
    for entry in workspace.get("locationEntries") or []:
        loaded = entry.get("locationOrLoadError") or {}
        if loaded.get("__typename") == "PythonError":
            message = str(loaded.get("message", "")).strip().splitlines()[:1]
            problems.append(f"code location {entry.get('name')}: {' '.join(message)[:200]}")
    health = (data.get("instance") or {}).get("daemonHealth") or {}
    for status in health.get("allDaemonStatuses") or []:
        if not status.get("required"):
            continue
        last = status.get("lastHeartbeatTime")
        if last is not None and now - float(last) > STALE_HEARTBEAT_SECONDS:
            problems.append(
                f"daemon {status.get('daemonType')}: last heartbeat {now - last:.0f} s ago"
            )
        elif status.get("healthy") is False:
            problems.append(f"daemon {status.get('daemonType')} has no fresh heartbeat")
    return "; ".join(problems) or None


def stack_components(pgid: int) -> dict[int, str]:
    """The processes of the ``dagster dev`` stack in process group ``pgid`` that an operator
    knows by name (webserver, daemon, code server, code server proxy): PID -> name."""
    found = {}
    for pid in find_processes([pgid], None):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        for marker, name in _COMPONENTS:
            if marker in cmdline:
                found[pid] = name
                break
    return found
