#!/usr/bin/python3
"""mkman.py: one manual page, in roff, from its source dist/man/NAME.SECTION.txt.

The sources are the one place each page is written; `make man` (and `make
install`) turns them into build/man/NAME.SECTION. The format is small:

    NAME SECTION one-line summary       first line
    ## HEADING                          .SH
    ### Subheading                      .SS
    (blank line)                        new paragraph
    - TERM                              a tagged paragraph (.TP): TERM, then its
      body, indented by two spaces      body on the following indented lines
        code                            four spaces: shown as is (.EX)
    **bold**, *italic*, `literal`       inline

@VERSION@ becomes PC_VERSION of proto/pc_version.h.

usage: mkman.py SOURCE OUTPUT
"""

import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def version():
    with open(os.path.join(ROOT, "proto", "pc_version.h")) as handle:
        return re.search(r'#define\s+PC_VERSION\s+"([^"]+)"', handle.read()).group(1)


def escape(text):
    return text.replace("\\", "\\e").replace("-", "\\-")


def inline(text):
    """Escapes text and turns **bold**, `literal` and *italic* into fonts."""
    out = []
    pattern = re.compile(r"\*\*(.+?)\*\*|`(.+?)`|\*(.+?)\*")
    position = 0
    for match in pattern.finditer(text):
        out.append(escape(text[position:match.start()]))
        bold = match.group(1) or match.group(2)
        if bold is not None:
            out.append("\\fB" + escape(bold) + "\\fR")
        else:
            out.append("\\fI" + escape(match.group(3)) + "\\fR")
        position = match.end()
    out.append(escape(text[position:]))
    line = "".join(out)
    return "\\&" + line if line[:1] in (".", "'") else line


def convert(lines, version_text, date):
    name, section, summary = lines[0].split(None, 2)
    out = ['.TH "%s" "%s" "%s" "PyChat %s" "PyChat Manual"'
           % (name.upper(), section, date, version_text),
           ".SH NAME", "%s \\- %s" % (escape(name), inline(summary.strip()))]
    state = "start"          # start | text | item | code
    for raw in lines[1:]:
        line = raw.rstrip("\n").replace("@VERSION@", version_text)
        if line.startswith("    ") and state != "item":
            if state != "code":
                out += [".PP", ".RS 4", ".EX"]
                state = "code"
            out.append(escape(line[4:]) or "\\&")
            continue
        if state == "code":
            out += [".EE", ".RE"]
            state = "text"
        if not line.strip():
            if state in ("text", "item"):
                state = "para"
            continue
        if line.startswith("### "):
            out += [".SS " + inline(line[4:])]
            state = "start"
        elif line.startswith("## "):
            out += [".SH " + inline(line[3:].upper())]
            state = "start"
        elif line.startswith("- "):
            out += [".TP", inline(line[2:])]
            state = "item"
        elif line.startswith("  ") and state == "item":
            out.append(inline(line.strip()))
        else:
            if state in ("para", "item"):
                out.append(".PP")
            out.append(inline(line.strip()))
            state = "text"
    if state == "code":
        out += [".EE", ".RE"]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    date = time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch else ""
    with open(sys.argv[1]) as handle:
        text = convert(handle.readlines(), version(), date)
    with open(sys.argv[2], "w") as handle:
        handle.write(text)


if __name__ == "__main__":
    main()
