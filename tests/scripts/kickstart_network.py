#!/usr/bin/env python3
"""Prints, as JSON, what pykickstart (the parser anaconda uses) reads from a kickstart's `network`
commands, and exits 1 with its message if the file does not parse for the given version.
Usage: kickstart_network.py RHEL7 FILE"""
import json
import sys

from pykickstart.errors import KickstartError
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion, stringToVersion

handler = makeVersion(stringToVersion(sys.argv[1]))
parser = KickstartParser(handler)
try:
    parser.readKickstart(sys.argv[2])
except KickstartError as error:
    print(error, file=sys.stderr)
    sys.exit(1)
fields = ["device", "bondslaves", "bondopts", "vlanid", "ip", "netmask", "gateway", "nameserver", "hostname"]
print(json.dumps([{field: getattr(network, field, None) for field in fields} for network in handler.network.network]))
