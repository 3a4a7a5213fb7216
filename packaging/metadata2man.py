#!/usr/bin/env python3
"""Write a fence agent's man page (section 8) from its metadata XML.

Usage: metadata2man.py NAME < metadata.xml > fence_NAME.8

The metadata is what pacemaker reads (`fence_X -o metadata`): the page shows the same
parameters, their command-line spellings, defaults and choices, the stdin names, and
the actions, so the page can never disagree with the agent. NAME is the name the page
is for (an alias installed as a symlink gets its own page with its own description).
"""

import sys
import xml.etree.ElementTree as ET


def roff(text: str) -> str:
    """Escape text for a roff line: backslashes, and a leading dot or quote."""
    text = " ".join((text or "").split()).replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: metadata2man.py NAME < metadata.xml", file=sys.stderr)
        return 2
    name = sys.argv[1]
    try:
        root = ET.fromstring(sys.stdin.read())
    except ET.ParseError as e:
        print(f"metadata2man.py: {name}: metadata is not XML: {e}", file=sys.stderr)
        return 1
    if root.tag != "resource-agent":
        print(f"metadata2man.py: {name}: not a resource-agent document", file=sys.stderr)
        return 1
    base = root.get("name", name)
    shortdesc = root.get("shortdesc", "")
    for link in root.findall("symlink"):
        if link.get("name") == name:
            shortdesc = link.get("shortdesc", shortdesc)
    longdesc = root.findtext("longdesc", "")

    out = []
    out.append(f'.TH {name.upper()} 8 "" "palisade" "Fence agents"')
    out.append(".SH NAME")
    out.append(f"{roff(name)} \\- {roff(shortdesc)}")
    out.append(".SH SYNOPSIS")
    out.append(f".B {roff(name)}")
    out.append("[\\fIOPTIONS\\fR]")
    out.append(".br")
    out.append(f"echo \\fIname\\fR=\\fIvalue\\fR ... | {roff(name)}")
    out.append(".SH DESCRIPTION")
    out.append(roff(longdesc))
    if name != base:
        out.append(".PP")
        out.append(
            f"{roff(name)} is {roff(base)} under another name: the name it is called by "
            "chooses its defaults."
        )
    out.append(".PP")
    out.append(
        "Options are taken from the command line or, one \\fIname\\fR=\\fIvalue\\fR per "
        "line, from standard input (as pacemaker passes them). Exit status: 0 success "
        "(for status: power is on), 1 failure or bad options, 2 power is off (status)."
    )
    out.append(".SH OPTIONS")
    params = root.find("parameters")
    for p in params if params is not None else []:
        pname = p.get("name", "")
        getopt = p.find("getopt")
        mixed = getopt.get("mixed", "") if getopt is not None else ""
        content = p.find("content")
        out.append(".TP")
        out.append(f"\\fB{roff(mixed or pname)}\\fR")
        line = roff(p.findtext("shortdesc", ""))
        notes = []
        if p.get("required") == "1":
            notes.append("required")
        if content is not None:
            if content.get("default"):
                notes.append(f"default: {roff(content.get('default'))}")
            choices = [o.get("value", "") for o in content.findall("option")]
            if choices:
                notes.append("one of: " + ", ".join(roff(c) for c in choices))
        if p.get("deprecated") == "1":
            notes.append("deprecated spelling")
        if p.get("obsoletes"):
            notes.append(f"obsoletes {roff(p.get('obsoletes'))}")
        notes.append(f"stdin name: {roff(pname)}")
        out.append(line + (" (" + "; ".join(notes) + ")" if notes else ""))
    out.append(".SH ACTIONS")
    actions = root.find("actions")
    for a in actions if actions is not None else []:
        out.append(".TP")
        out.append(f"\\fB{roff(a.get('name', ''))}\\fR")
    out.append(".SH SEE ALSO")
    out.append("palisade(1), stonith_admin(8), pacemaker-fenced(7)")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
