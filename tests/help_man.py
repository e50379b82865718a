#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The manual page and --help agree: for every command, each long option `acfetch CMD --help`
lists is in the command's paragraph of doc/acfetch.1 (or in a section the paragraph refers to:
the chunk source options, make's options), and each option the paragraph names is in the help;
the global options likewise against `acfetch --help`. --help itself is left out (every command
takes it). And every line of `acfetch --help`, `acfetch help` and `acfetch CMD --help` fits an
80-column terminal. Usage: help_man.py ACFETCH MANPAGE; prints every difference and exits 1 on
any."""
import re
import subprocess
import sys
import unicodedata

COLUMNS = 80

OPT = re.compile(r"--[a-z][a-z0-9-]*")


def help_text(acfetch, *args):
    return subprocess.run([acfetch, *args], capture_output=True, text=True, check=True).stdout


def columns(line):
    """The terminal columns line takes: tabs to the next multiple of 8, wide characters 2,
    combining ones 0."""
    n = 0
    for ch in line:
        if ch == "\t":
            n += 8 - n % 8
        elif unicodedata.combining(ch):
            continue
        else:
            n += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return n


def too_wide(what, text):
    """A problem per line of text wider than COLUMNS: it would wrap on an 80-column terminal."""
    return [f"'{what}' line {i} is {columns(line)} columns (at most {COLUMNS}): {line!r}"
            for i, line in enumerate(text.splitlines(), 1) if columns(line) > COLUMNS]


def help_options(text):
    """Long options in the option column: lines starting with blanks and '-', up to the first
    run of two blanks (the description)."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^\s+(-.*)$", line)
        if not m:
            continue
        spec = re.split(r"\s{2,}", m.group(1))[0]
        opts.update(OPT.findall(spec))
    return opts - {"--help"}


def man_plain(line):
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace("\\(em", "-")


def other_programs(text):
    """Leaves out the options of other programs a paragraph names: gpg's command line, curl's."""
    text = re.sub(r"gpg(\s+--[a-z-]+)+", "gpg", text)
    return re.sub(r"curl's\s+--[a-z-]+(\s+with\s+--[a-z-]+)?", "curl's", text)


def man_sections(path):
    """{section title: [lines]} and, for COMMANDS, {command: paragraph text}."""
    sections, cur = {}, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith(".SH "):
            cur = line[4:].strip().strip('"')
            sections[cur] = []
        elif cur is not None:
            sections[cur].append(line)
    commands, name, expect_header = {}, None, False
    for line in sections.get("COMMANDS", []):
        if line.startswith(".TP"):
            expect_header = True
            continue
        if expect_header:
            words = man_plain(line).split()
            name = words[0] if words else None
            if name == "image" and len(words) > 1:
                name = "image"
            commands.setdefault(name, "")
            expect_header = False
        if name:
            commands[name] += man_plain(line) + "\n"
    for name in commands:
        commands[name] = other_programs(" ".join(commands[name].split()))
    return sections, commands


def main():
    acfetch, manpage = sys.argv[1], sys.argv[2]
    sections, paragraphs = man_sections(manpage)
    chunk = set(OPT.findall(other_programs(man_plain("\n".join(sections.get("CHUNK SOURCE OPTIONS", []))))))
    glob = set(OPT.findall(man_plain("\n".join(sections.get("GLOBAL OPTIONS", [])))))
    main_help = help_text(acfetch, "--help")
    glob_help = help_options(main_help.split("Global options", 1)[1])
    problems = too_wide("acfetch --help", main_help)
    problems += too_wide("acfetch help", help_text(acfetch, "help"))
    for o in sorted(glob_help - glob):
        problems.append(f"global option {o}: in 'acfetch --help', not in GLOBAL OPTIONS")
    for o in sorted(glob - glob_help):
        problems.append(f"global option {o}: in GLOBAL OPTIONS, not in 'acfetch --help'")

    commands = re.findall(r"^  (\S+)\s{2,}", main_help.split("Commands:", 1)[1].split("\n\n")[0],
                          re.M)
    for cmd in commands:
        if cmd == "help":
            continue
        text = help_text(acfetch, cmd, "--help")
        problems += too_wide(f"acfetch {cmd} --help", text)
        # The help ends with the global options, which GLOBAL OPTIONS covers.
        own = help_options(text.split("Global options", 1)[0])
        para = paragraphs.get(cmd)
        if para is None:
            problems.append(f"{cmd}: no paragraph in COMMANDS")
            continue
        named = set(OPT.findall(para))
        documented = named | glob
        if "chunk source options" in para:
            documented |= chunk
            named |= chunk
        if re.search(r"[Tt]akes make's options", para):
            documented |= set(OPT.findall(paragraphs.get("make", "")))
        for o in sorted(own - documented):
            problems.append(f"{cmd} {o}: in 'acfetch {cmd} --help', not in the manual page")
        for o in sorted(named - own - glob_help):
            problems.append(f"{cmd} {o}: in the manual page, not in 'acfetch {cmd} --help'")
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print(f"ok: {len(commands) - 1} commands and the global options agree, and their help"
              f" fits {COLUMNS} columns")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
