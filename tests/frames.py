"""Every frame the tests receive is checked against its type's schema (core.frames), as Zulip's
tests check every event: a frame the server sends that no schema allows fails the test that saw it."""

import json

from core.frames import FrameInvalid, load_registries

# The socket paths and the registry of the frames they send.
SOCKETS = {
    "/ws/sheets/": "sheet",
    "/ws/public/dashboards/": "dashboard",  # before /ws/public/: the first prefix that matches counts
    "/ws/public/": "sheet",
    "/ws/dashboards/": "dashboard",
}


def registry_for_path(path):
    for prefix, name in SOCKETS.items():
        if path.startswith(prefix):
            return load_registries()[name]
    raise FrameInvalid(f"no frame registry for the socket {path!r}")


def checked(registry_name, frame):
    """`frame` (an object, or its JSON text), after checking it against the registry; FrameInvalid
    when it does not match."""
    value = json.loads(frame) if isinstance(frame, (str, bytes)) else frame
    load_registries()[registry_name].check(value)
    return frame


def checked_on(path, text):
    """`text`, a frame received on the socket at `path`, after checking it."""
    registry_for_path(path).check(json.loads(text))
    return text
