#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bus-call.py METHOD SIGNATURE [ARG...]: calls org.mbupgraded.Manager1.METHOD on the bus that
DBUS_SYSTEM_BUS_ADDRESS names, like busctl call, but for arguments no command line can carry: an
ARG of the form @FILE is the string read from FILE (megabytes if need be). Prints the reply, or
"ERROR org.the.Error.Name: message" (the message cut at 300 characters) and exits 1."""
import os
import sys

import dbus


def main():
    method, sig, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if len(sig) != len(args):
        sys.exit(f"{method}: signature {sig!r} wants {len(sig)} arguments, got {len(args)}")
    values = []
    for t, a in zip(sig, args):
        if t == "s":
            if a.startswith("@"):
                with open(a[1:], encoding="utf-8") as f:
                    a = f.read()
            values.append(dbus.String(a))
        elif t == "t":
            values.append(dbus.UInt64(int(a, 0)))
        elif t == "i":
            values.append(dbus.Int32(int(a, 0)))
        else:
            sys.exit(f"bus-call.py: type {t} not supported")
    bus = dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])
    obj = bus.get_object("org.mbupgraded.Manager1", "/org/mbupgraded/Manager1", introspect=False)
    try:
        reply = obj.get_dbus_method(method, "org.mbupgraded.Manager1")(*values, signature=sig, timeout=60)
    except dbus.DBusException as e:
        print(f"ERROR {e.get_dbus_name()}: {(e.get_dbus_message() or '')[:300]}")
        sys.exit(1)
    print(reply if reply is not None else "")


if __name__ == "__main__":
    main()
